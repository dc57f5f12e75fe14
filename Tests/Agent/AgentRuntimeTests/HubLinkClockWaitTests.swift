@testable import AgentRuntime
import Foundation
import HALLinux
import HALTesting
import HubClient
import Logging
import TestSupport
import Testing

/// The link's wait for a synchronised clock before its first connection, on the real monotonic
/// clock: sampling can queue meanwhile, and a stop ends the wait at once.
@Suite struct HubLinkClockWaitTests {
    @Test func aStopDuringTheWaitEndsItAtOnceAndKeepsWhatWasQueued() throws {
        let folder = try TemporaryDirectory(prefix: "clock-wait")
        let monotonic = SystemClock()
        let wall = ManualWallClock(start: .seconds(1_797_000_000), following: monotonic)
        let capture = CaptureClock(monotonic: monotonic, wall: wall, logger: Logger(label: "test"))
        // Nothing listens on port 1: a started client would only retry.
        let settings = HubClient.Settings(host: "127.0.0.1", port: 1, deviceID: "factory-line-01", certificateFile: "/nonexistent",
                                          keyFile: "/nonexistent", trustAnchors: "/nonexistent", modelID: "dtmi:test;1")
        let link = HubLink(configuration: .init(settings: settings, outbox: OutboxConfig(), stateDirectory: folder.path + "/state",
                                                flushTimeout: .seconds(30), capture: capture, syncWait: .seconds(60)),
                           logger: Logger(label: "test"), onEvent: { _ in })
        try link.start()
        let stamp = capture.stamp()
        let seq = link.enqueue(Numbered(seq: 0), kind: .aggregate, capturedAt: stamp.date, seq: \.seq, properties: [:])
        #expect(seq != nil)
        #expect(!stamp.synchronised)

        let began = ContinuousClock.now
        link.stop()
        // Neither the 60 s wait nor the 30 s flush: the client never started.
        #expect(ContinuousClock.now - began < .seconds(10))
        #expect(link.client?.state == .connecting)
        #expect(!link.flushed)
        #expect(link.leftUnacknowledged == 1)
    }

    @Test func aSynchronisedClockNeedsNoWaitAndTheDefaultWaitIsTwoMinutes() throws {
        let monotonic = SystemClock()
        let synced = ManualWallClock(start: .seconds(1_797_000_000), following: monotonic, synchronised: true)
        #expect(!CaptureClock(monotonic: monotonic, wall: synced, logger: Logger(label: "test")).needsWait)
        #expect(ClockConfig().syncWait == .seconds(120))
    }
}

struct Numbered: Encodable {
    var seq: UInt64
}
