import Boards
import FoundationEssentials
import HAL
import Logging
import SensorCore
import SystemCalls

/// The sampler at `sendFrequency`: reads every `sampling.interval`, emits one aggregate message
/// per period to a sink. Time comes from the board's clock (virtual on a simulated board);
/// capture times from a ``CaptureClock`` (the wall clock at capture on a real board).
///
/// The send frequency and the enabled channels are read from `settings` at every sample; between
/// samples the loop sleeps on the board clock until the next one is due or `wake` is raised (a
/// setting changed, a stop), so a shorter send frequency takes effect at once.
public struct TelemetryLoop: Sendable {
    public var sendFrequency: Duration
    public var interval: Duration
    /// Stop after this many messages (nil: run until cancelled or `shouldStop` says so).
    public var count: Int?

    public init(sendFrequency: Duration, interval: Duration, count: Int? = nil) {
        self.sendFrequency = sendFrequency
        self.interval = min(interval, sendFrequency)
        self.count = count
    }

    /// Runs the loop with this loop's fixed send frequency.
    public func run(board: Board, logger: Logger, sink: (TelemetryMessage) -> Void) {
        let fixed = AgentSettings(sendFrequency: sendFrequency)
        run(board: board, logger: logger, settings: { fixed }, sink: sink)
    }

    /// Runs the loop, handing each message to `sink` (its `seq` counts from 1; a durable sink
    /// replaces it with the outbox's) and every sample's readings to `onSample` with the board
    /// time since start and the capture stamp. Returns when `count` messages were sent, the task
    /// is cancelled or `shouldStop` returns true.
    ///
    /// - Parameters:
    ///   - capture: what samples are stamped with (default: the start time plus the board's
    ///     clock, as on a simulated board).
    ///   - between: called on this thread whenever no sample is being taken, before each wait
    ///     (other work on the board's drivers, see ``SamplingSide``); raise `wake` to get there.
    ///   - promise: told, before each sample (zero) and each wait (its length on the board's
    ///     clock), how soon the loop will be back: what a watchdog checks it against.
    ///   - sendNow: asked while waiting (after `wake` is raised); true sends the period so far
    ///     with a sample taken at once.
    public func run(board: Board, logger: Logger, settings: () -> AgentSettings,
                    shouldStop: () -> Bool = { false }, wake: WakeUp = WakeUp(), capture: CaptureClock? = nil,
                    between: () -> Void = {},
                    promise: (Duration) -> Void = { _ in },
                    sendNow: () -> Bool = { false },
                    onSample: ([Reading], Duration, CaptureClock.Stamp) -> Void = { _, _, _ in },
                    sink: (TelemetryMessage) -> Void) {
        let sampler = Sampler(board: board, logger: logger)
        let clock = board.clock
        let capture = capture ?? CaptureClock(monotonic: clock, wall: nil, logger: logger)
        let clockStart = clock.now
        let order = board.sensors.map(\.chip.name)
        let chips = Dictionary(uniqueKeysWithValues: board.sensors.map { ($0.chip.name, $0.chip.kind.name) })
        var seq: UInt64 = 0
        var window = TelemetryWindow(sensorOrder: order)
        var periodStart = clock.now
        var nextSample = clock.now
        var forced = false
        while !Task.isCancelled && !shouldStop() {
            promise(.zero)
            let current = settings()
            let frequency = current.sendFrequency
            let step = min(interval, frequency)
            let readings = sampler.sampleOnce().filter { !current.disabledChannels.contains($0.channel) }.map { reading in
                current.calibration(reading.sensor, reading.channel).map(reading.calibrated(by:)) ?? reading
            }
            window.add(readings)
            let stamp = capture.stamp()
            onSample(readings, clock.now - clockStart, stamp)
            nextSample += step
            // Send when the period is over, or when the next sample would already fall past its end
            // (an interval that does not divide the send frequency).
            if clock.now - periodStart >= frequency - .milliseconds(1) || nextSample - periodStart > frequency || forced {
                forced = false
                seq += 1
                let statuses = sampler.statuses
                var labels: [String: String] = [:]
                var errors: [String: String] = [:]
                for (name, status) in statuses {
                    labels[name] = status.label
                    if case .failed(let reason) = status { errors[name] = reason }
                }
                let end = clock.now
                var message = window.message(deviceID: board.file.deviceID, seq: seq, timestamp: Self.iso8601(stamp.date),
                                             period: end - periodStart, chips: chips, statuses: labels, errors: errors)
                message.clockSynchronised = stamp.synchronised ? nil : false
                sink(message)
                window = TelemetryWindow(sensorOrder: order)
                periodStart = end
                if let count, seq >= UInt64(count) { return }
            }
            // Wait for the next sample; a raised `wake` ends the wait, and a shorter send frequency
            // (or a stop) then takes effect with a sample now.
            while true {
                between()
                let wait = nextSample - clock.now
                if wait <= .zero { nextSample = max(nextSample, clock.now); break }
                if settings().sendFrequency < frequency || shouldStop() || Task.isCancelled {
                    nextSample = clock.now
                    break
                }
                // A send-now request (consumed here): sample at once and send the period so far.
                if sendNow() {
                    forced = true
                    nextSample = clock.now
                    break
                }
                promise(wait)
                _ = clock.sleep(for: wait, wakeUp: wake)
            }
        }
    }

    static func iso8601(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }
}
