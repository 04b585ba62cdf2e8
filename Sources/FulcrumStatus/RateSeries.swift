/// RateHistory's bookkeeping for one listener or member: the counters seen last (the baseline
/// of the next rate), the ring of points, and the running maxima.
struct RateSeries: Sendable {
    /// What a snapshot says about one listener or member.
    struct Reading: Sendable {
        var total: Int
        var bytesIn: Int
        var bytesOut: Int
        var current: Int
    }

    /// The time of a recording and how long since the previous one (nil: the first).
    struct Step {
        var unixSeconds: Int64
        var elapsedMs: Int64?
    }

    var baseline: Reading
    var points: RingBuffer<RatePoint>
    var rateMax = 0
    var currentMax: Int

    init(_ reading: Reading, capacity: Int) {
        baseline = reading
        points = RingBuffer(capacity: capacity)
        currentMax = reading.current
    }

    mutating func record(_ reading: Reading, at step: Step) {
        currentMax = max(currentMax, reading.current)
        defer { baseline = reading }
        guard let elapsedMs = step.elapsedMs else { return }
        let point = RatePoint(
            unixSeconds: step.unixSeconds,
            connectionsPerSecond: RateSeries.rate(from: baseline.total, to: reading.total, elapsedMs: elapsedMs),
            bytesInPerSecond: RateSeries.rate(from: baseline.bytesIn, to: reading.bytesIn, elapsedMs: elapsedMs),
            bytesOutPerSecond: RateSeries.rate(from: baseline.bytesOut, to: reading.bytesOut, elapsedMs: elapsedMs))
        rateMax = max(rateMax, point.connectionsPerSecond)
        points.append(point)
    }

    /// Per second, rounded half up, in integers (no libm). A counter that went backwards (the
    /// daemon's counters restarted, e.g. a reload rebuilt them) counts as no traffic for that
    /// step, not a negative rate.
    static func rate(from old: Int, to new: Int, elapsedMs: Int64) -> Int {
        guard new > old, elapsedMs > 0 else { return 0 }
        let elapsed = Int(elapsedMs)
        let (scaled, overflow) = (new - old).multipliedReportingOverflow(by: 1000)
        // Deltas past Int.max / 1000 (exabytes in a step) cannot happen; fall back to dividing first.
        if overflow { return (new - old) / elapsed * 1000 }
        return (scaled + elapsed / 2) / elapsed
    }

    /// RateSeries by key, in the order of the latest snapshot.
    struct Table: Sendable {
        private var byKey: [String: RateSeries] = [:]
        private var order: [String] = []

        /// Records one snapshot's readings; keys not among them are forgotten.
        mutating func record(_ readings: [(String, Reading)], at step: Step, capacity: Int) {
            var next: [String: RateSeries] = [:]
            var nextOrder: [String] = []
            for (key, reading) in readings where next[key] == nil {
                var series = byKey[key] ?? RateSeries(reading, capacity: capacity)
                if byKey[key] != nil { series.record(reading, at: step) }
                next[key] = series
                nextOrder.append(key)
            }
            byKey = next
            order = nextOrder
        }

        func points(_ key: String) -> [RatePoint] { byKey[key]?.points.elements ?? [] }

        func sampled(_ key: String, current: Int) -> Sampled {
            var sampled = Sampled()
            guard let series = byKey[key] else { return sampled }
            sampled.currentMax = max(series.currentMax, current)
            sampled.rateMax = series.rateMax
            if let last = series.points.last {
                sampled.rate = last.connectionsPerSecond
                sampled.bytesInRate = last.bytesInPerSecond
                sampled.bytesOutRate = last.bytesOutPerSecond
            }
            return sampled
        }

        func write(to json: inout JSONWriter) {
            for key in order {
                guard let series = byKey[key] else { continue }
                json.key(key)
                json.beginArray()
                for point in series.points.elements {
                    json.beginArray()
                    json.int(point.unixSeconds)
                    json.int(point.connectionsPerSecond)
                    json.int(point.bytesInPerSecond)
                    json.int(point.bytesOutPerSecond)
                    json.endArray()
                }
                json.endArray()
            }
        }
    }
}
