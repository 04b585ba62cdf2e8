#ifndef CFULCRUM_BUILD_INFO_H
#define CFULCRUM_BUILD_INFO_H

// What --version prints, shared by fulcrumd and fulcrumctl (they ship together).

// The release, "0.1.0".
const char *cfb_version(void);

// The commit the binaries were built from (12 hex digits), or "" when unknown. Package.swift
// passes it as FULCRUM_COMMIT when it compiles this target only, so a new commit recompiles
// one C file and relinks, nothing else.
const char *cfb_commit(void);

#endif
