/// Event-level scores of a detector on labelled series (docs/predictor.md, "Evaluation").
///
/// Definitions, per series (one device's one channel, samples in capture order):
/// - An *event* is a maximal run of labelled samples [s, e].
/// - An *alarm* is a maximal run of flagged samples [a, b].
/// - An alarm is *true* when it overlaps [s, e + grace] of some event (the grace excuses the echo
///   of a spike's end in the rolling windows), else it is a *false alarm*.
/// - An event is *detected* when a sample in [s, e] is flagged; its *delay* is the first flagged
///   index minus s, in samples (0 = flagged on the event's first sample).
/// - precision = true alarms / alarms, recall = detected events / events, F1 their harmonic mean
///   (each 0 when undefined); false alarms per day = false alarms / simulated days.
public struct DetectionReport: Equatable, Sendable {
    public var events = 0
    public var detected = 0
    public var alarms = 0
    public var trueAlarms = 0
    public var falseAlarms = 0
    /// Delay of each detected event, in samples.
    public var delays: [Int] = []
    public var samples = 0
    public var simulatedSeconds = 0.0

    public init() {}

    public var precision: Double { alarms == 0 ? 0 : Double(trueAlarms) / Double(alarms) }
    public var recall: Double { events == 0 ? 0 : Double(detected) / Double(events) }
    public var f1: Double {
        let p = precision, r = recall
        return p + r == 0 ? 0 : 2 * p * r / (p + r)
    }
    public var meanDelay: Double? {
        delays.isEmpty ? nil : Double(delays.reduce(0, +)) / Double(delays.count)
    }
    /// The median delay by nearest rank (the lower middle for an even count).
    public var medianDelay: Int? {
        delays.isEmpty ? nil : delays.sorted()[(delays.count - 1) / 2]
    }
    public var falseAlarmsPerDay: Double {
        simulatedSeconds > 0 ? Double(falseAlarms) / (simulatedSeconds / 86_400) : 0
    }

    /// Adds one series: `labels[i]` the truth, `flags[i]` the detector's verdict for sample i.
    public mutating func add(labels: [Bool], flags: [Bool], sampleInterval: Double, grace: Int) {
        let n = min(labels.count, flags.count)
        samples += n
        simulatedSeconds += Double(n) * sampleInterval
        let eventRuns = Self.runs(labels, n)
        let alarmRuns = Self.runs(flags, n)
        events += eventRuns.count
        alarms += alarmRuns.count
        for (s, e) in eventRuns {
            if let first = (s...e).first(where: { flags[$0] }) {
                detected += 1
                delays.append(first - s)
            }
        }
        // Both run lists are sorted; a two-pointer sweep matches alarms to events.
        var j = 0
        for (a, b) in alarmRuns {
            while j < eventRuns.count && eventRuns[j].1 + grace < a { j += 1 }
            if j < eventRuns.count && eventRuns[j].0 <= b {
                trueAlarms += 1
            } else {
                falseAlarms += 1
            }
        }
    }

    static func runs(_ bits: [Bool], _ n: Int) -> [(Int, Int)] {
        var out: [(Int, Int)] = []
        var start: Int?
        for i in 0..<n {
            if bits[i] {
                if start == nil { start = i }
            } else if let s = start {
                out.append((s, i - 1))
                start = nil
            }
        }
        if let s = start { out.append((s, n - 1)) }
        return out
    }
}
