extension StatusCommand {
    /// The reply to `help`: one line per command, no empty line (that would end the reply).
    public static let helpText = """
        help                                              this list
        show info                                         version, uptime, config files, totals
        show stat                                         counters as CSV (HAProxy field names)
        show stat json                                    everything as one line of JSON
        show members [POOL]                               members: status, weight, last check, traffic
        show ha                                           high-availability state
        show anycast                                      anycast VIPs: announced or not, and why
        show metrics                                      Prometheus text exposition
        set member POOL/MEMBER state ready|drain|maint    put in rotation, drain, or take out
        set member POOL/MEMBER weight N                   set the weight in force, N in 0..256
        shutdown sessions member POOL/MEMBER              close the member's open connections and sessions
        anycast withdraw [VIP]                            take VIP (default every VIP) off the interface, keep it off
        anycast announce [VIP]                            undo withdraw: VIP follows announce_when again
        reload                                            apply the config directory again, or refuse it whole
        quit                                              close this connection

        """
}
