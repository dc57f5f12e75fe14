import AgentRuntime
import Foundation
import HAL
import HALSimulation
import HALTesting
import Logging
import Outbox
import Synchronization
import TestSupport
import Testing

/// Log lines, for asserting what an operator reads.
final class LogLines: Sendable {
    private let lines = Mutex<[String]>([])
    var all: [String] { lines.withLock { $0 } }

    var logger: Logger {
        Logger(label: "clock-test") { _ in Handler(sink: self) }
    }

    struct Handler: LogHandler {
        let sink: LogLines
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) { sink.lines.withLock { $0.append(event.message.description) } }
    }
}

/// A board without a battery-backed clock: it boots on the time saved at its last shutdown
/// (10 days ago) and NTP sets it later. All time is virtual: nothing sleeps.
struct RealBoardClock {
    static let trueStart: Duration = .seconds(1_797_000_000)
    let monotonic = VirtualClock()
    let wall: ManualWallClock
    let capture: CaptureClock
    let log = LogLines()

    init(behind: Duration = .seconds(10 * 86400), synchronised: Bool = false) {
        wall = ManualWallClock(start: Self.trueStart - behind, following: monotonic, synchronised: synchronised)
        capture = CaptureClock(monotonic: monotonic, wall: wall, logger: log.logger)
    }

    /// A durable outbox in `folder` that measures ages on the capture clock's timeline, as the hub link opens it.
    func outbox(in folder: TemporaryDirectory, maximumAge: Duration = .seconds(7 * 86400)) throws -> Outbox {
        var configuration = OutboxConfiguration()
        configuration.maximumAge = maximumAge
        let capture = capture
        return try Outbox(directory: try StateDirectory(folder.path + "/state"), configuration: configuration,
                          clock: { capture.timeline() }, logger: log.logger)
    }

    /// Samples every 30 s for `count` samples, queueing each as an aggregate captured at its stamp.
    func queue(_ count: Int, into outbox: Outbox) throws -> [CaptureClock.Stamp] {
        var stamps: [CaptureClock.Stamp] = []
        for _ in 0..<count {
            monotonic.advance(by: .seconds(30))
            let stamp = capture.stamp()
            try outbox.enqueue(kind: .aggregate, capturedAt: stamp.date) { seq in Array("{\"seq\":\(seq)}".utf8) }
            stamps.append(stamp)
        }
        return stamps
    }
}

func date(_ sinceEpoch: Duration) -> Date {
    Date(timeIntervalSince1970: Double(sinceEpoch.components.seconds) + Double(sinceEpoch.components.attoseconds) / 1e18)
}

@Suite struct CaptureClockTests {
    @Test func aRealBoardStampsTheWallClockAtCaptureAndSaysWhetherItWasSynchronised() {
        let board = RealBoardClock()
        board.monotonic.advance(by: .seconds(5))
        let before = board.capture.stamp()
        #expect(before.date == date(board.wall.sinceEpoch))
        #expect(!before.synchronised)
        board.wall.setSynchronised(true)
        board.monotonic.advance(by: .seconds(5))
        let after = board.capture.stamp()
        #expect(after.synchronised)
        #expect(after.date.timeIntervalSince(before.date) == 5)
        #expect(board.capture.statusText == "synchronised (test clock)")
    }

    @Test func aSimulatedBoardKeepsItsVirtualTimeAndIsNeverMarked() {
        let monotonic = VirtualClock()
        let start = Date(timeIntervalSince1970: 1_797_000_000)
        let capture = CaptureClock(monotonic: monotonic, wall: nil, start: start, logger: Logger(label: "test"))
        monotonic.advance(by: .seconds(3600))
        let stamp = capture.stamp()
        #expect(stamp.date == start.addingTimeInterval(3600))
        #expect(stamp.synchronised)
        #expect(capture.statusText == "simulated time")
        #expect(!capture.needsWait)
    }

    @Test func aSlowDriftIsNotAStep() {
        let board = RealBoardClock()
        for _ in 0..<100 {
            board.monotonic.advance(by: .seconds(30))
            board.wall.step(by: .milliseconds(15))  // NTP slewing, 500 ppm
            _ = board.capture.stamp()
        }
        #expect(board.capture.stepCount == 0)
    }

    /// NTP steps the clock 10 days forward with a 7-day maximum age and an hour of backlog queued:
    /// nothing expires, the backlog's capture times move by the step, and they still expire
    /// once they are really 7 days old.
    @Test func aForwardStepOfTenDaysExpiresNothingAndReanchorsTheBacklog() throws {
        let folder = try TemporaryDirectory()
        let board = RealBoardClock()
        let outbox = try board.outbox(in: folder)
        defer { outbox.close() }
        board.capture.observeSteps { step in outbox.shiftCaptureTimes(by: step, fromSequence: 0) }
        let stamps = try board.queue(120, into: outbox)
        let before = outbox.peek(limit: 1000)
        #expect(before.map(\.capturedAt) == stamps.map { Date(timeIntervalSince1970: ($0.date.timeIntervalSince1970 * 1000).rounded(.down) / 1000) })

        board.wall.step(by: .seconds(10 * 86400))
        board.wall.setSynchronised(true)
        board.monotonic.advance(by: .seconds(30))
        let now = board.capture.stamp()
        #expect(now.synchronised)
        #expect(now.date == date(RealBoardClock.trueStart + .seconds(121 * 30)))
        #expect(board.capture.stepCount == 1)
        #expect(board.log.all.contains { $0.contains("set forward by 10 days") }, "\(board.log.all)")

        #expect(outbox.dropExpired() == 0)
        let after = outbox.peek(limit: 1000)
        #expect(after.count == 120)
        #expect(after.map(\.seq) == before.map(\.seq))
        for (old, new) in zip(before, after) {
            #expect(new.capturedAt.timeIntervalSince(old.capturedAt) == 10 * 86400)
        }
        // The oldest was captured an hour ago on the new time.
        let oldest = try #require(outbox.statistics.oldestAge)
        #expect(oldest == .seconds(120 * 30))

        // Seven days on, the backlog is really that old and expires as configured.
        board.monotonic.advance(by: .seconds(7 * 86400))
        _ = board.capture.stamp()
        #expect(outbox.dropExpired() == 120)
        #expect(outbox.statistics.drops.expiredAggregates == 120)
    }

    /// The clock is set back a day (it ran ahead): nothing is lost, no age is negative, the
    /// sequence stays unique and capture times stay in queue order.
    @Test func aBackwardStepLosesNothingAndLeavesNoNegativeAge() throws {
        let folder = try TemporaryDirectory()
        let board = RealBoardClock(behind: .seconds(-86400))
        let outbox = try board.outbox(in: folder)
        defer { outbox.close() }
        board.capture.observeSteps { step in outbox.shiftCaptureTimes(by: step, fromSequence: 0) }
        _ = try board.queue(60, into: outbox)

        board.wall.step(by: .seconds(-86400))
        board.monotonic.advance(by: .seconds(30))
        let now = board.capture.stamp()
        #expect(now.date == date(RealBoardClock.trueStart + .seconds(61 * 30)))
        #expect(board.log.all.contains { $0.contains("set back by 24 h") }, "\(board.log.all)")
        _ = try board.queue(60, into: outbox)

        #expect(outbox.dropExpired() == 0)
        let all = outbox.peek(limit: 1000)
        #expect(all.count == 120)
        #expect(Set(all.map(\.seq)).count == 120)
        #expect(all.map(\.seq) == all.map(\.seq).sorted())
        #expect(all.map(\.capturedAt) == all.map(\.capturedAt).sorted())
        // The first message was captured 120 samples (of 30 s) before the last, on the corrected clock.
        #expect(try #require(outbox.statistics.oldestAge) == .seconds(120 * 30))
        #expect(all.allSatisfy { $0.capturedAt <= board.capture.timeline() })
    }

    /// Until the step is seen by a stamp, "now" for the outbox does not jump: the link's thread
    /// expiring meanwhile cannot drop the backlog.
    @Test func theOutboxTimelineDoesNotJumpBeforeTheStampsDo() throws {
        let board = RealBoardClock()
        board.monotonic.advance(by: .seconds(10))
        let stamp = board.capture.stamp()
        board.wall.step(by: .seconds(10 * 86400))
        board.monotonic.advance(by: .seconds(10))
        #expect(board.capture.timeline() == stamp.date.addingTimeInterval(10))
    }

    @Test func theAgentWaitsForSynchronisationCheckingEveryFewSecondsNotInATightLoop() {
        let board = RealBoardClock()
        board.wall.synchronise(at: .seconds(12))
        #expect(board.capture.needsWait)
        let synchronised = board.capture.waitForSynchronisation(limit: .seconds(120), recheck: .seconds(5), stop: WakeUp(),
                                                                shouldStop: { false })
        #expect(synchronised)
        #expect(board.monotonic.now == .seconds(15))  // checked at 5, 10 and 15 s
        #expect(board.log.all.contains { $0.contains("waiting up to 2 min before connecting") })
        #expect(board.log.all.contains { $0.contains("synchronised (test clock) after 15 s") }, "\(board.log.all)")
        #expect(!board.capture.needsWait)
    }

    @Test func theWaitIsBoundedAndShowsItsProgressInTheStatus() {
        let monotonic = VirtualClock()
        let wall = StatusProbe(ManualWallClock(start: RealBoardClock.trueStart, following: monotonic))
        let capture = CaptureClock(monotonic: monotonic, wall: wall, logger: Logger(label: "test"))
        wall.capture = capture
        let synchronised = capture.waitForSynchronisation(limit: .seconds(120), recheck: .seconds(5), stop: WakeUp(), shouldStop: { false })
        #expect(!synchronised)
        #expect(monotonic.now == .seconds(120))
        let seen = wall.seen.withLock { $0 }
        #expect(seen.count <= 1 + 120 / 5 + 1)
        #expect(seen.contains("waiting for synchronisation (10 s of 120 s)"), "\(seen)")
        #expect(capture.statusText == "unsynchronised (test clock)")
    }

    @Test func aStopEndsTheWaitAtOnce() {
        let board = RealBoardClock()
        let stop = WakeUp()
        stop.raise()
        let stopped = Mutex(false)
        let synchronised = board.capture.waitForSynchronisation(limit: .seconds(120), stop: stop, shouldStop: {
            stopped.withLock { s in defer { s = true }; return s }
        })
        #expect(!synchronised)
        #expect(board.monotonic.now == .zero)
    }

    @Test func aRealBoardsMessagesAreMarkedUntilTheClockIsSynchronised() throws {
        let opened = try openBoard("sim-factory-line")
        let wall = ManualWallClock(start: RealBoardClock.trueStart, following: opened.clock)
        wall.synchronise(at: opened.clock.now + .seconds(65))
        let capture = CaptureClock(monotonic: opened.clock, wall: wall, logger: Logger(label: "test"))
        var sent: [TelemetryMessage] = []
        TelemetryLoop(sendFrequency: .seconds(30), interval: opened.file.sampling.interval, count: 4)
            .run(board: opened, logger: Logger(label: "test"), settings: { AgentSettings(sendFrequency: .seconds(30)) },
                 capture: capture) { sent.append($0) }
        #expect(sent.map(\.clockSynchronised) == [false, false, nil, nil])
        let encoded = try JSONEncoder().encode(sent[0])
        #expect(String(decoding: encoded, as: UTF8.self).contains("\"clockSynchronised\":false"))
        #expect(!String(decoding: try JSONEncoder().encode(sent[3]), as: UTF8.self).contains("clockSynchronised"))
    }
}

@Suite struct AgentClockTests {
    /// The agent's status shows the clock, and what it sends before NTP is marked.
    @Test func theAgentStampsWithItsWallClockAndShowsItInItsStatus() throws {
        let board = try openBoard("sim-factory-line")
        let wall = ManualWallClock(start: RealBoardClock.trueStart, following: board.clock)
        let sent = Mutex<[TelemetryMessage]>([])
        let agent = Agent(board: board, options: .init(agentVersion: "test", count: 2, wallClock: wall), hub: nil,
                          logger: Logger(label: "test"), output: { message in sent.withLock { $0.append(message) } })
        #expect(agent.status().clock == "unsynchronised (test clock)")
        try agent.run()
        let messages = sent.withLock { $0 }
        #expect(messages.map(\.clockSynchronised) == [false, false])
        #expect(messages.last?.timestamp.hasPrefix("2026-12-11") == true, "\(messages.map(\.timestamp))")
        wall.setSynchronised(true)
        #expect(agent.status().clock == "synchronised (test clock)")
    }

    @Test func aSimulatedBoardsStatusSaysSimulatedTime() throws {
        let agent = Agent(board: try openBoard("sim-factory-line"), options: .init(agentVersion: "test", count: 1), hub: nil,
                          logger: Logger(label: "test"))
        #expect(agent.status().clock == "simulated time")
    }
}

/// A wall clock that notes the capture clock's status each time its synchronisation is read,
/// to see what `fieldagent status` would show during the wait.
final class StatusProbe: WallClock, @unchecked Sendable {
    let inner: ManualWallClock
    nonisolated(unsafe) weak var capture: CaptureClock?
    let seen = Mutex<[String]>([])
    /// statusText reads this clock's synchronisation when no wait is on: do not note from inside it.
    let noting = Mutex(false)

    init(_ inner: ManualWallClock) { self.inner = inner }

    var sinceEpoch: Duration { inner.sinceEpoch }

    var synchronisation: ClockSynchronisation {
        if !noting.withLock({ s in defer { s = true }; return s }) {
            if let text = capture?.statusText, text.hasPrefix("waiting") { seen.withLock { $0.append(text) } }
            noting.withLock { $0 = false }
        }
        return inner.synchronisation
    }
}
