import Configuration
import FoundationEssentials
import Logging
import Predictor
import PredictorLink
import SensorCore
import Synchronization

/// A spike worth telling the hub about: one alert per spike onset per stream.
public struct SpikeAlert: Sendable, Equatable, Codable {
    /// Always "spike" (also the message property `alert=spike`), so a reader tells alerts from aggregates.
    public var alert = "spike"
    public var deviceId: String
    public var sensor: String
    public var channel: String
    public var value: Double
    public var unit: String
    /// The model's spike probability (the fallback's spike score: 0.5 at its threshold).
    public var spikeProbability: Double
    /// The detector's verdict on the sample that raised the alert (the spike-detector recipe's field).
    public var spikeDetected: Bool
    /// The twin's spikeThreshold when it overrides the detector's own decision threshold; absent otherwise.
    public var threshold: Double?
    /// The persistence rule that let the alert through: `hits` spiking samples in the last `samples`.
    public var persistence: Persistence
    /// `predictor` (the co-located model) or `fallback` (the in-agent detector).
    public var source: String
    public var modelId: String
    public var features: [String: Double]
    public var capturedAt: String
    public var seq: UInt64 = 0
    /// `false` when the wall clock was not synchronised at capture; absent otherwise.
    public var clockSynchronised: Bool?

    enum CodingKeys: String, CodingKey {
        case alert, deviceId, sensor, channel, value, unit, threshold, persistence, source, modelId, features, capturedAt, seq, clockSynchronised
        case spikeProbability = "spike_probability"
        case spikeDetected = "spike_detected"
    }
}

/// An alert needs `hits` spiking samples among the last `samples` of its stream, so one noisy
/// sample on its own does not alert.
public struct Persistence: Sendable, Equatable, Codable {
    public var hits: Int
    public var samples: Int

    public init(hits: Int, samples: Int) {
        self.hits = hits
        self.samples = samples
    }

    public static let range = 1...16
}

/// Routes every sample to the spike predictor (route `predictor`) or the in-agent fallback
/// detector (route `hub`, or the predictor down or late), and turns verdicts into alerts.
///
/// ## Contract
/// - The fallback detector sees every sample whatever the route, so it is warm when it takes over.
/// - With route `predictor`, a failed or late answer switches to the fallback for that sample and
///   the following ones (logged once with the reason); the predictor is tried again every
///   `retryInterval`, and the switch back is logged too.
/// - A sample spikes when the detector says so at its own decision threshold (the model's
///   `decision_threshold`), or, with a twin override, when its probability ≥ that threshold; never
///   while warming up.
/// - An alert is raised at a spike's onset: the sample spikes and ``Persistence/hits`` of the
///   stream's last ``Persistence/samples`` samples did; the stream must read normal for
///   `clearAfter` samples before it can alert again.
public final class SpikeRouter: @unchecked Sendable {
    public enum Source: String, Sendable { case predictor, fallback }

    let deviceID: String
    let logger: Logger
    let socketPath: String?
    let deadline: Duration
    let retryInterval: Duration
    let clearAfter: Int
    var client: PredictorClient?
    /// One fallback per channel kind: each with a MAD floor at the sensor's resolution, so a
    /// one-LSB step on a quiet channel is not read as a many-sigma spike.
    var fallbacks: [Channel: SpikePredictor] = [:]

    /// Channels watched for spikes (the channel table's `watchedForSpikes`).
    public static let watchedChannels: Set<Channel> = Set(Channel.allCases.filter(\.facts.watchedForSpikes))

    var predictorDownSince: ContinuousClock.Instant?
    var nextRetry: ContinuousClock.Instant = .now
    var lastFailure: String?
    var quiet: [String: Int] = [:]
    var inSpike: Set<String> = []
    /// Per stream, whether each of its last samples spiked (at most `persistence.samples`).
    var recent: [String: [Bool]] = [:]
    let persistence: Persistence
    let current = Mutex(Source.fallback)
    /// Who answers now (read by the status writer on another thread).
    public var source: Source { current.withLock { $0 } }
    let lastModel = Mutex<String?>(nil)
    /// The model id on the last verdict used (`spike-gbt.v3-…` from the predictor, `robust-z.v1(…)`
    /// from the fallback); nil before the first. Read by the status writer on another thread.
    public var modelID: String? { lastModel.withLock { $0 } }
    public private(set) var samplesByPredictor = 0
    public private(set) var samplesByFallback = 0

    public init(deviceID: String, socketPath: String?, deadline: Duration = .milliseconds(50),
                retryInterval: Duration = .seconds(2), clearAfter: Int = 3, persistence: Persistence = Persistence(hits: 1, samples: 1),
                logger: Logger) {
        self.persistence = persistence
        self.deviceID = deviceID
        self.socketPath = socketPath
        self.deadline = deadline
        self.retryInterval = retryInterval
        self.clearAfter = clearAfter
        self.logger = logger
    }

    /// Classifies one sample's readings; returns the alerts to send now.
    public func classify(_ readings: [Reading], capturedAt: Date, route: Route, threshold: Double?) -> [SpikeAlert] {
        var alerts: [SpikeAlert] = []
        let time = capturedAt.timeIntervalSince1970
        for reading in readings {
            guard Self.watchedChannels.contains(reading.channel),
                  let value = reading.value?.value, reading.quality != .unavailable, value.isFinite else { continue }
            let stream = "\(reading.sensor).\(reading.channel.rawValue)"
            let sample = PredictorSample(device: deviceID, channel: stream, captureTime: time, value: value)
            let fresh = SpikePredictor(detector: .robust(RobustSpikeDetector.Parameters(madFloor: reading.channel.facts.detectorNoiseFloor)))
            let local = try? fallbacks[reading.channel, default: fresh].classify(sample)
            var verdict = local
            var from = Source.fallback
            // A restarted predictor warms its windows up again; the fallback covers that stretch.
            if route == .predictor, let remote = askPredictor(sample), !(remote.warmingUp && local?.warmingUp == false) {
                verdict = remote
                from = .predictor
            }
            if from == .predictor { samplesByPredictor += 1 } else { samplesByFallback += 1 }
            if route == .predictor, from != source { switched(to: from) }
            if route == .hub { current.withLock { $0 = .fallback } }
            guard let verdict else { continue }
            lastModel.withLock { $0 = verdict.modelID }
            // One sample spikes when its probability reaches the twin's threshold or else the
            // detector's own; the persistence rule below is then the only one (the detector's
            // `spikeDetected` already applies the model's, which would stack on it).
            let sampleThreshold = threshold ?? verdict.decisionThreshold
            let hit = !verdict.warmingUp && (sampleThreshold.map { verdict.spikeProbability >= $0 } ?? verdict.spikeDetected)
            var history = recent[stream, default: []]
            history.append(hit)
            if history.count > persistence.samples { history.removeFirst(history.count - persistence.samples) }
            recent[stream] = history
            let spiking = hit && history.filter { $0 }.count >= persistence.hits
            if spiking {
                quiet[stream] = 0
                if inSpike.insert(stream).inserted {
                    alerts.append(SpikeAlert(deviceId: deviceID, sensor: reading.sensor, channel: reading.channel.rawValue,
                                             value: value, unit: reading.channel.unit.rawValue,
                                             spikeProbability: verdict.spikeProbability, spikeDetected: verdict.spikeDetected,
                                             threshold: threshold, persistence: persistence, source: from.rawValue,
                                             modelId: verdict.modelID,
                                             features: Dictionary(verdict.features.map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a }),
                                             capturedAt: Self.iso8601(capturedAt)))
                }
            } else if !hit, inSpike.contains(stream) {
                quiet[stream, default: 0] += 1
                if quiet[stream, default: 0] >= clearAfter { inSpike.remove(stream) }
            }
        }
        return alerts
    }

    func askPredictor(_ sample: PredictorSample) -> PredictorVerdict? {
        guard let socketPath else { return nil }
        let now = ContinuousClock.now
        if predictorDownSince != nil, now < nextRetry { return nil }
        let client = self.client ?? PredictorClient(path: socketPath, deadline: deadline)
        self.client = client
        do {
            let verdict = try client.classify(sample)
            predictorDownSince = nil
            return verdict
        } catch {
            client.close()
            self.client = nil
            if predictorDownSince == nil { predictorDownSince = now }
            nextRetry = now + retryInterval
            let reason = "\(error)"
            if reason != lastFailure {
                logger.warning("spike predictor unavailable: \(reason); using the in-agent fallback detector, retrying every \(retryInterval)",
                               metadata: ["feature": "predictor"])
                lastFailure = reason
            }
            return nil
        }
    }

    func switched(to new: Source) {
        if new == .predictor {
            logger.notice("spike predictor answering at \(socketPath ?? "?"); alerts come from the model", metadata: ["feature": "predictor"])
            lastFailure = nil
        }
        current.withLock { $0 = new }
    }

    static func iso8601(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }
}
