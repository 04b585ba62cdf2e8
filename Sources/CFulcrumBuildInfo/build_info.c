#include "CFulcrumBuildInfo.h"

const char *cfb_version(void) { return "0.1.0"; }

const char *cfb_commit(void) {
#ifdef FULCRUM_COMMIT
    return FULCRUM_COMMIT;
#else
    return "";
#endif
}
