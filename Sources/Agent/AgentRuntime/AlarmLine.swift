import Configuration
import SensorCore

/// `on` or `off`, for configuration keys that switch a behaviour.
public enum Switch: String, Sendable, CaseIterable, Equatable {
    case on
    case off
}

/// Why the board's alarm line is high. Pure: the sampler feeds it what it saw at each sample
/// (board time since start) and reads back the reasons; the line is high while there is one.
///
/// - A spike alert holds it for `hold`.
/// - A sensor whose every reading in a sample was unavailable (failed) holds it until the sensor
///   reads again (with `sensorFailure` on).
/// - The hub link down longer than `linkDown` (zero: never).
/// - Outbox drops (backlog lost to the quota or age limit) hold it for `hold` after the last one
///   (with `droppedBacklog` on).
struct AlarmLine: Sendable, Equatable {
    struct Rules: Sendable, Equatable {
        var hold: Duration
        var sensorFailure: Switch = .on
        var linkDown: Duration = .seconds(600)
        var droppedBacklog: Switch = .on
    }

    let rules: Rules
    private(set) var spikeUntil: Duration?
    private(set) var lastSpike: String?
    private(set) var failedSensors: Set<String> = []
    private(set) var linkDownSince: Duration?
    private(set) var drops: Int?
    private(set) var dropsUntil: Duration?
    private(set) var dropped = 0

    init(rules: Rules) { self.rules = rules }

    mutating func spike(at elapsed: Duration, description: String) {
        spikeUntil = elapsed + rules.hold
        lastSpike = description
    }

    /// One sample's readings: which sensors failed.
    mutating func sample(_ readings: [Reading]) {
        var seen: [String: Bool] = [:]
        for reading in readings {
            let ok = reading.value != nil && reading.quality != .unavailable
            seen[reading.sensor] = (seen[reading.sensor] ?? false) || ok
        }
        for (sensor, ok) in seen {
            if ok { failedSensors.remove(sensor) } else { failedSensors.insert(sensor) }
        }
    }

    /// Whether the hub link is up now (nil: no hub configured).
    mutating func link(connected: Bool?, at elapsed: Duration) {
        guard let connected, !connected else { linkDownSince = nil; return }
        if linkDownSince == nil { linkDownSince = elapsed }
    }

    /// The outbox's drop count so far (aggregates and alerts); the first value is the baseline.
    mutating func outboxDrops(_ total: Int, at elapsed: Duration) {
        defer { drops = total }
        guard let before = drops, total > before else { return }
        dropped += total - before
        dropsUntil = elapsed + rules.hold
    }

    /// Why the line is high at `elapsed` (empty: it is low), in a stable order.
    func reasons(at elapsed: Duration) -> [String] {
        var reasons: [String] = []
        if let until = spikeUntil, elapsed < until {
            reasons.append("spike alert (\(lastSpike ?? "?")), held \(DurationText.format(rules.hold))")
        }
        if rules.sensorFailure == .on {
            for sensor in failedSensors.sorted() { reasons.append("sensor \(sensor) failed") }
        }
        if rules.linkDown > .zero, let since = linkDownSince, elapsed - since >= rules.linkDown {
            // The text does not count the time down: it is compared to the last one to log a change,
            // and a running count logged the line as raised again at every sample of an outage.
            reasons.append("hub link down longer than \(DurationText.format(rules.linkDown))")
        }
        if rules.droppedBacklog == .on, let until = dropsUntil, elapsed < until {
            reasons.append("outbox dropped \(dropped) queued message\(dropped == 1 ? "" : "s")")
        }
        return reasons
    }
}
