import ArgumentParser
import FulcrumStatus
import Glibc

struct Top: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Live view of connection rates and throughput, refreshed every second.",
        discussion: """
            Every interval sends `show info` and `show stat` on one connection and shows, per \
            listener and per member: new connections per second (the daemon's rate), open and \
            total connections, and bytes per second in and out, computed from the change in the \
            byte counters since the previous refresh (blank on the first). The header line has \
            the daemon's uptime and the totals over all listeners.

            On a terminal the screen is cleared before each refresh; otherwise each refresh is \
            printed after a blank line, without escape codes, for logging. Stop with Ctrl-C, or \
            after --iterations refreshes.
            """)

    @OptionGroup var socket: SocketOptions

    @Option(help: ArgumentHelp("Seconds between refreshes.", valueName: "seconds"))
    var interval: Double = 1

    @Option(help: ArgumentHelp("Stop after this many refreshes (default: until interrupted).", valueName: "n"))
    var iterations: Int?

    func validate() throws {
        guard interval >= 0.1, interval <= 3600 else {
            throw ValidationError("--interval \(interval): allowed: 0.1 to 3600 seconds")
        }
        if let iterations, iterations < 1 { throw ValidationError("--iterations \(iterations): allowed: 1 or more") }
    }

    func run() throws {
        let terminal = Terminal.stdout()
        let client = try Conversation.connect(socket)
        var previous: Sample?
        var frame = 0
        while true {
            let started = Clock.now()
            let sample = try Sample(client: client, at: started)
            var text = TopView(current: sample, previous: previous).render(colour: terminal.colour)
            if terminal.isTTY {
                // Clear once, then draw each frame over the last from the top-left corner,
                // blanking each line's rest and everything below: a screen cleared before
                // every frame would flicker.
                let clear = frame == 0 ? "\u{1B}[2J" : ""
                text = clear + "\u{1B}[H" + text.split(separator: "\n", omittingEmptySubsequences: false)
                    .map { $0 + "\u{1B}[K" }.joined(separator: "\n") + "\n\u{1B}[J"
                print(text, terminator: "")
            } else {
                print(frame > 0 ? "\n" + text : text)
            }
            fflush(stdout)  // A pipe is block buffered; a watcher wants each frame when it is made.
            frame += 1
            if let iterations, frame >= iterations { return }
            previous = sample
            Clock.sleep(until: started + interval)
        }
    }
}

/// One refresh: the stat rows, the uptime, and when they were read (for the byte rates).
struct Sample {
    let table: StatTable
    let uptime: String?
    let time: Double
    /// Rows by identity, for the next frame's deltas (a scan per row would be quadratic).
    let byKey: [String: StatTable.Row]

    init(client: StatusClient, at time: Double) throws {
        self.time = time
        // Uptime is decoration: an older daemon refusing `show info` must not stop `top`.
        let info = try Conversation.askTolerant(client, .showInfo)
        uptime = info.flatMap(Sample.uptime)
        table = try StatView.table(Conversation.ask(client, .showStat(json: false)))
        byKey = Dictionary(table.rows.map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// The `uptime: SECONDS (readable)` line of `show info` (FulcrumStatus.InfoText), shown
    /// in fulcrumctl's own short form; HAProxy's `Uptime_sec` is read too, so the header still
    /// works if the key is renamed to match it.
    static func uptime(_ reply: Reply) -> String? {
        for line in reply.lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = line[..<colon].lowercased()
            guard key == "uptime" || key == "uptime_sec" else { continue }
            let digits = SocketPath.trim(line[line.index(after: colon)...]).prefix { $0.isASCII && $0.isNumber }
            if let seconds = Int(digits) { return Human.duration(seconds) }
        }
        return nil
    }
}

/// One `top` frame.
struct TopView {
    let current: Sample
    let previous: Sample?

    func render(colour: Bool) -> String {
        let listeners = current.table.listeners
        let rateIn = listeners.map { bytesPerSecond($0, "bin") }
        let rateOut = listeners.map { bytesPerSecond($0, "bout") }
        var header = ["fulcrum"]
        if let uptime = current.uptime { header.append("up " + uptime) }
        header.append("\(listeners.reduce(0) { $0 + $1.int("rate") }) conn/s")
        header.append("\(listeners.reduce(0) { $0 + $1.int("scur") }) open")
        header.append("\(listeners.reduce(0) { $0 + $1.int("stot") }) total")
        if previous != nil {
            header.append("in " + Human.bytes(rateIn.reduce(0) { $0 + ($1 ?? 0) }) + "/s")
            header.append("out " + Human.bytes(rateOut.reduce(0) { $0 + ($1 ?? 0) }) + "/s")
        }

        var table = Table(["LISTENER / MEMBER", "STATUS", "CONN/S", "CUR", "TOTAL", "IN/S", "OUT/S"],
                          rightAligned: Set(2...6))
        for row in listeners { table.append(cells(row, name: row.proxy)) }
        for pool in current.table.pools {
            for member in current.table.members(of: pool.proxy) { table.append(cells(member, name: member.key)) }
        }
        return header.joined(separator: "  ") + "\n\n" + table.render(colour: colour)
    }

    private func cells(_ row: StatTable.Row, name: String) -> [Cell] {
        [Cell(name), StatView.status(row), Cell(row["rate"]), Cell(row["scur"]), Cell(row["stot"]),
         Cell(bytesPerSecond(row, "bin").map(Human.bytes) ?? ""),
         Cell(bytesPerSecond(row, "bout").map(Human.bytes) ?? "")]
    }

    /// The counter's change since the previous refresh over the time between the two reads;
    /// nil on the first frame, for a row that is new, or when the counter went backwards
    /// (a reload that reset it): no number is better than a wrong one.
    private func bytesPerSecond(_ row: StatTable.Row, _ column: String) -> Int? {
        guard let previous, let before = previous.byKey[row.key] else { return nil }
        let delta = row.int(column) - before.int(column)
        let seconds = current.time - previous.time
        guard delta >= 0, seconds > 0 else { return nil }
        return Int((Double(delta) / seconds).rounded())
    }
}

/// The monotonic clock, so a wall-clock step does not distort the rates or the pacing.
enum Clock {
    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// Sleeps until `deadline` (monotonic seconds); refreshing on a fixed beat keeps the
    /// frames an interval apart however long a `show stat` took.
    static func sleep(until deadline: Double) {
        while true {
            let remaining = deadline - now()
            guard remaining > 0 else { return }
            var ts = timespec(tv_sec: Int(remaining), tv_nsec: Int((remaining - remaining.rounded(.down)) * 1e9))
            if nanosleep(&ts, nil) == 0 { return }
        }
    }
}
