import Boards
import Foundation
import HAL
import Logging
import SensorCore

/// The sampler at `sendFrequency`: reads every `sampling.interval`, emits one aggregate message
/// per period to a sink. Time comes from the board's clock (virtual on a simulated board).
public struct TelemetryLoop: Sendable {
    public var sendFrequency: Duration
    public var interval: Duration
    /// Stop after this many messages (nil: run until cancelled).
    public var count: Int?

    public init(sendFrequency: Duration, interval: Duration, count: Int? = nil) {
        self.sendFrequency = sendFrequency
        self.interval = min(interval, sendFrequency)
        self.count = count
    }

    /// Runs the loop, handing each message to `sink`. Returns when `count` messages were sent or
    /// the task is cancelled.
    public func run(board: Board, logger: Logger, sink: (TelemetryMessage) -> Void) {
        let sampler = Sampler(board: board, logger: logger)
        let clock = board.clock
        let wallStart = Date()
        let clockStart = clock.now
        let order = board.sensors.map(\.chip.name)
        let chips = Dictionary(uniqueKeysWithValues: board.sensors.map { ($0.chip.name, $0.chip.kind.rawValue) })
        var seq: UInt64 = 0
        var window = TelemetryWindow(sensorOrder: order)
        var periodStart = clock.now
        var nextSample = clock.now
        while !Task.isCancelled {
            window.add(sampler.sampleOnce())
            nextSample += interval
            // Send when the period is over, or when the next sample would already fall past its end
            // (an interval that does not divide the send frequency).
            if clock.now - periodStart >= sendFrequency - .milliseconds(1) || nextSample - periodStart > sendFrequency {
                seq += 1
                let statuses = sampler.statuses
                var labels: [String: String] = [:]
                var errors: [String: String] = [:]
                for (name, status) in statuses {
                    labels[name] = status.label
                    if case .failed(let reason) = status { errors[name] = reason }
                }
                let end = clock.now
                let stamp = wallStart.addingTimeInterval((end - clockStart).seconds)
                sink(window.message(deviceID: board.file.deviceID, seq: seq, timestamp: Self.iso8601(stamp),
                                    period: end - periodStart, chips: chips, statuses: labels, errors: errors))
                window = TelemetryWindow(sensorOrder: order)
                periodStart = end
                if let count, seq >= UInt64(count) { return }
            }
            let wait = nextSample - clock.now
            if wait > .zero { clock.sleep(for: wait) } else { nextSample = clock.now }
        }
    }

    static func iso8601(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }
}
