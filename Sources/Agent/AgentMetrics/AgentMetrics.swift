import Prometheus
import Synchronization
import SystemCalls

/// What the agent looks like at a scrape: the state the metrics read at that moment (sensor
/// health, the link, the outbox, the predictor, the certificate). Counters among them are totals
/// since start; ``AgentMetrics`` turns them into Prometheus counters.
public struct MetricsSnapshot: Sendable, Equatable {
    public struct Sensor: Sendable, Equatable {
        public var name: String
        public var chip: String
        /// `ok` counts as healthy; anything else (`failed`, `absent`, `unknown`) does not.
        public var status: String
        public init(name: String, chip: String, status: String) {
            self.name = name
            self.chip = chip
            self.status = status
        }
    }

    public struct Link: Sendable, Equatable {
        /// `connected`, `connecting`, `disconnected`, …
        public var state: String
        public var connects: Int
        public var acknowledged: Int
        public var dropped: Int
        public var retransmitted: Int
        public init(state: String, connects: Int, acknowledged: Int, dropped: Int, retransmitted: Int) {
            self.state = state
            self.connects = connects
            self.acknowledged = acknowledged
            self.dropped = dropped
            self.retransmitted = retransmitted
        }
    }

    public struct Outbox: Sendable, Equatable {
        public var depth: Int
        public var bytes: Int
        public var quotaBytes: Int
        public var droppedAggregates: Int
        public var droppedAlerts: Int
        public var oldestAgeSeconds: Double?
        public init(depth: Int, bytes: Int, quotaBytes: Int, droppedAggregates: Int, droppedAlerts: Int, oldestAgeSeconds: Double?) {
            self.depth = depth
            self.bytes = bytes
            self.quotaBytes = quotaBytes
            self.droppedAggregates = droppedAggregates
            self.droppedAlerts = droppedAlerts
            self.oldestAgeSeconds = oldestAgeSeconds
        }
    }

    public struct Predictor: Sendable, Equatable {
        public var verdictsByPredictor: Int
        public var verdictsByFallback: Int
        /// Who answers now: the co-located predictor (true) or the in-agent fallback.
        public var predictorAnswering: Bool
        public var alerts: Int
        public init(verdictsByPredictor: Int, verdictsByFallback: Int, predictorAnswering: Bool, alerts: Int) {
            self.verdictsByPredictor = verdictsByPredictor
            self.verdictsByFallback = verdictsByFallback
            self.predictorAnswering = predictorAnswering
            self.alerts = alerts
        }
    }

    public var sensors: [Sensor]
    public var link: Link?
    public var outbox: Outbox?
    public var predictor: Predictor
    /// Seconds until the device certificate's notAfter (nil: no certificate configured or readable).
    public var certificateSecondsLeft: Double?

    public init(sensors: [Sensor], link: Link?, outbox: Outbox?, predictor: Predictor, certificateSecondsLeft: Double?) {
        self.sensors = sensors
        self.link = link
        self.outbox = outbox
        self.predictor = predictor
        self.certificateSecondsLeft = certificateSecondsLeft
    }
}

/// The agent's Prometheus metrics (`/metrics`), in one swift-prometheus registry per agent (no
/// process-wide bootstrap, so several agents in one test process keep theirs apart).
///
/// Events are recorded as they happen (readings per period, publish latencies); state is read
/// from a ``MetricsSnapshot`` at every scrape, with totals turned into counters by their
/// increase since the last scrape.
public final class AgentMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    let totals = TotalsTracker()
    let latency: DurationHistogram
    /// Reads /proc/self (injected by tests).
    let process: @Sendable () -> ProcessStatistics?

    /// Publish latency buckets: a PUBACK on a LAN takes milliseconds, over a cellular link up to seconds.
    public static let latencyBuckets: [Duration] = [.milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
                                                    .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
                                                    .milliseconds(2500), .seconds(5), .seconds(10), .seconds(30)]

    public init(process: @escaping @Sendable () -> ProcessStatistics? = { ProcessStatistics.current() }) {
        self.process = process
        latency = registry.makeDurationHistogram(descriptor: describe("fieldagent_publish_latency_seconds", "Time from handing a message to the hub link to its PUBACK."), buckets: Self.latencyBuckets)
    }

    /// One send period's readings of one channel: how many were taken and their average.
    public func recordReadings(sensor: String, channel: String, unit: String, count: Int, average: Double) {
        let key = ReadingKey(sensor: sensor, channel: channel, unit: unit)
        let handles = readingHandles.withLock { handles in
            if let known = handles[key] { return known }
            let labels = [("sensor", sensor), ("channel", channel)]
            let made = (counter: registry.makeCounter(descriptor: describe("fieldagent_readings_total", "Readings taken, per sensor and channel."), labels: labels),
                        gauge: registry.makeGauge(descriptor: describe("fieldagent_reading", "The latest send period's average reading, per sensor and channel."), labels: labels + [("unit", unit)]))
            // Bounded by the board's channels; a cap keeps a misbehaving caller from growing it.
            if handles.count < Self.maxReadingSeries { handles[key] = made }
            return made
        }
        handles.counter.increment(by: Int64(max(0, count)))
        handles.gauge.set(average)
    }

    /// The registry's handles per (sensor, channel, unit), made once: making them looks the
    /// series up by name and labels and validates the help text, which at one message per sample
    /// cost more than the message's JSON.
    private struct ReadingKey: Hashable {
        var sensor: String
        var channel: String
        var unit: String
    }
    private let readingHandles = Mutex<[ReadingKey: (counter: Counter, gauge: Gauge)]>([:])
    static let maxReadingSeries = 1_024

    /// Samples in which a sensor gave no reading.
    public func recordUnavailable(sensor: String, count: Int) {
        registry.makeCounter(descriptor: describe("fieldagent_readings_unavailable_total", "Samples in which the sensor gave no reading."), labels: [("sensor", sensor)]).increment(by: Int64(max(0, count)))
    }

    /// One message's PUBACK arrived this long after the message went to the link.
    public func recordPublishLatency(_ duration: Duration) {
        latency.recordNanoseconds(Int64(duration.components.seconds) * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
    }

    /// The exposition text: the snapshot's state and the process's, then every metric.
    public func exposition(_ snapshot: MetricsSnapshot) -> [UInt8] {
        update(snapshot)
        return registry.emitToBuffer()
    }

    func update(_ s: MetricsSnapshot) {
        for sensor in s.sensors {
            registry.makeGauge(descriptor: describe("fieldagent_sensor_healthy", "1 when the sensor's last readings were good (status ok), 0 otherwise."), labels: [("sensor", sensor.name), ("chip", sensor.chip)])
                .set(sensor.status == "ok" ? 1.0 : 0.0)
        }
        if let link = s.link {
            for state in ["connecting", "connected", "disconnected"] {
                registry.makeGauge(descriptor: describe("fieldagent_link_state", "1 for the hub link's current state."), labels: [("state", state)])
                    .set(link.state == state ? 1.0 : 0.0)
            }
            count("fieldagent_link_connects_total", link.connects, "Connections made to the hub (the first and every reconnect).")
            count("fieldagent_link_acknowledged_total", link.acknowledged, "Messages the hub acknowledged (PUBACK).")
            count("fieldagent_link_dropped_total", link.dropped, "Messages the link dropped without an acknowledgement.")
            count("fieldagent_link_retransmitted_total", link.retransmitted, "Messages sent again after a reconnect.")
        }
        if let outbox = s.outbox {
            registry.makeGauge(descriptor: describe("fieldagent_outbox_depth", "Messages in the outbox waiting for their PUBACK.")).set(Double(outbox.depth))
            registry.makeGauge(descriptor: describe("fieldagent_outbox_bytes", "Bytes counted against the outbox quota.")).set(Double(outbox.bytes))
            registry.makeGauge(descriptor: describe("fieldagent_outbox_quota_bytes", "The outbox quota.")).set(Double(outbox.quotaBytes))
            registry.makeGauge(descriptor: describe("fieldagent_outbox_backlog_age_seconds", "Age of the oldest message waiting in the outbox (0 when empty)."))
                .set(outbox.oldestAgeSeconds ?? 0)
            let help = "Messages the outbox dropped to stay within its quota or age limit."
            count("fieldagent_outbox_dropped_total", outbox.droppedAggregates, help, labels: [("kind", "aggregate")])
            count("fieldagent_outbox_dropped_total", outbox.droppedAlerts, help, labels: [("kind", "alert")])
        }
        let verdicts = "Samples classified for spikes, by who answered: the co-located predictor or the in-agent fallback."
        count("fieldagent_predictor_verdicts_total", s.predictor.verdictsByPredictor, verdicts, labels: [("source", "predictor")])
        count("fieldagent_predictor_verdicts_total", s.predictor.verdictsByFallback, verdicts, labels: [("source", "fallback")])
        registry.makeGauge(descriptor: describe("fieldagent_predictor_answering", "1 while the co-located predictor answers, 0 while the fallback does."))
            .set(s.predictor.predictorAnswering ? 1.0 : 0.0)
        count("fieldagent_spike_alerts_total", s.predictor.alerts, "Spike alerts raised.")
        if let seconds = s.certificateSecondsLeft {
            // Prometheus' base unit is the second (promtool refuses "days"); days left = this / 86400.
            registry.makeGauge(descriptor: describe("fieldagent_certificate_remaining_seconds", "Seconds until the device certificate expires (notAfter)."))
                .set(seconds.rounded(.down))
        }
        if let p = process() {
            registry.makeGauge(descriptor: describe("process_resident_memory_bytes", "Resident memory size in bytes.")).set(Double(p.residentBytes))
            registry.makeGauge(descriptor: describe("process_open_fds", "Number of open file descriptors.")).set(Double(p.openFileDescriptors))
            registry.makeGauge(descriptor: describe("process_threads", "Number of OS threads in the process.")).set(Double(p.threads))
        }
    }

    /// A Prometheus counter from a total kept elsewhere: increased by what the total grew.
    func count(_ name: String, _ total: Int, _ help: String, labels: [(String, String)] = []) {
        let key = name + labels.map { "|\($0.0)=\($0.1)" }.joined()
        let increase = totals.increase(key, to: total)
        registry.makeCounter(descriptor: describe(name, help), labels: labels).increment(by: Int64(increase))
    }
}

/// A metric's name and help text (the name written whole, so it reads as it is scraped).
func describe(_ name: String, _ help: String) -> MetricNameDescriptor {
    MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
}

/// The last total seen per counter.
final class TotalsTracker: Sendable {
    let seen = Mutex<[String: Int]>([:])

    /// How much `key`'s total grew since the last call (a total that went down, e.g. a new
    /// connection's statistics, counts from zero).
    func increase(_ key: String, to total: Int) -> Int {
        seen.withLock { seen in
            let before = seen[key] ?? 0
            seen[key] = total
            return total >= before ? total - before : total
        }
    }
}

/// The process's own resources, from /proc/self (Linux).
public struct ProcessStatistics: Sendable, Equatable {
    public var residentBytes: Int
    public var openFileDescriptors: Int
    public var threads: Int

    public init(residentBytes: Int, openFileDescriptors: Int, threads: Int) {
        self.residentBytes = residentBytes
        self.openFileDescriptors = openFileDescriptors
        self.threads = threads
    }

    /// nil where there is no /proc (not Linux).
    public static func current() -> ProcessStatistics? {
        guard let status = try? POSIX.readTextFile("/proc/self/status"), let fds = try? POSIX.listDirectory("/proc/self/fd") else { return nil }
        return parse(status: status, openFileDescriptors: fds.count)
    }

    /// `VmRSS:  1234 kB` and `Threads:  5` from /proc/PID/status.
    public static func parse(status: String, openFileDescriptors: Int) -> ProcessStatistics? {
        var rss: Int?
        var threads: Int?
        for line in status.split(separator: "\n") {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 2 else { continue }
            if fields[0] == "VmRSS:" { rss = Int(fields[1]).map { $0 * 1024 } }
            if fields[0] == "Threads:" { threads = Int(fields[1]) }
        }
        guard let rss, let threads else { return nil }
        return ProcessStatistics(residentBytes: rss, openFileDescriptors: openFileDescriptors, threads: threads)
    }
}
