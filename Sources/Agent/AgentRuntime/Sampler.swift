import Boards
import HAL
import Logging
import SensorCore
import Synchronization

/// Health of one sensor as the sampler sees it.
public enum SensorStatus: Equatable, Sendable {
    case ok
    /// The last attempt failed; the sensor is re-initialised and retried every cycle.
    case failed(String)

    public var label: String {
        switch self {
        case .ok: "ok"
        case .failed: "failed"
        }
    }
}

/// Reads every sensor of a board once per cycle. A sensor that fails yields `unavailable`
/// readings (never a made-up value) and is re-initialised on the next cycle, so it recovers
/// without a restart when it comes back; the others keep running meanwhile.
public final class Sampler: Sendable {
    public let board: Board
    private let logger: Logger

    private struct State {
        var started: [String: Bool] = [:]
        var status: [String: SensorStatus] = [:]
    }
    private let state = Mutex(State())

    public init(board: Board, logger: Logger) {
        self.board = board
        self.logger = logger
    }

    /// The status of each sensor after the last cycle, by sensor name.
    public var statuses: [String: SensorStatus] { state.withLock { $0.status } }

    /// One cycle: every sensor read once (started first if needed), as one burst of the board
    /// clock (``HAL/HALClock/coalescingWaits(_:)``).
    public func sampleOnce() -> [Reading] {
        board.clock.coalescingWaits { readAll() }
    }

    private func readAll() -> [Reading] {
        var readings: [Reading] = []
        for sensor in board.sensors {
            let name = sensor.chip.name
            let time = board.clock.now
            do {
                let values = try read(sensor)
                readings += values.map { Reading(sensor: name, channel: $0.channel, value: $0.quantity, quality: .good, time: time) }
                transition(name, to: .ok, chip: sensor.chip)
            } catch {
                state.withLock { $0.started[name] = false }
                readings += sensor.driver.channels.map { Reading(sensor: name, channel: $0, value: nil, quality: .unavailable, time: time) }
                transition(name, to: .failed("\(error)"), chip: sensor.chip)
            }
        }
        return readings
    }

    private func read(_ sensor: Board.Sensor) throws -> [ChannelValue] {
        let name = sensor.chip.name
        if !(state.withLock { $0.started[name] ?? false }) {
            try sensor.driver.start()
            state.withLock { $0.started[name] = true }
        }
        do {
            return try sensor.driver.sample()
        } catch let failure as any SensorFailure where failure.category == .checksum {
            // A corrupted byte on the wire: the chip is fine, one immediate retry usually succeeds.
            return try sensor.driver.sample()
        }
    }

    /// Logs each change of a sensor's health once, with the reason.
    private func transition(_ name: String, to status: SensorStatus, chip: BoardFile.Chip) {
        let previous = state.withLock { state -> SensorStatus? in
            defer { state.status[name] = status }
            return state.status[name]
        }
        guard previous != status else { return }
        let metadata: Logger.Metadata = ["sensor": "\(name)", "chip": "\(chip.kind.name)", "address": "\(chip.address)"]
        switch (previous, status) {
        case (_, .failed(let reason)) where previous?.label != "failed":
            logger.warning("sensor failed; retrying every cycle: \(reason)", metadata: metadata)
        case (.failed?, .ok):
            logger.info("sensor recovered", metadata: metadata)
        case (nil, .ok):
            logger.debug("sensor started", metadata: metadata)
        default:
            break
        }
    }
}
