import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Logging
import NIOPosix
import Predictor
@testable import PredictorServer
import Synchronization
import Testing

/// The service's bounds: a client that pipelines requests and never reads its answers, clients
/// that come and go, streams that fall silent.
struct PredictorBoundsTests {
    static func sampleFrame(_ index: Int, device: String = "dev") -> [UInt8] {
        PredictorWire.encode(.sample(id: UInt64(index), PredictorSample(device: device, channel: "temperature",
                                                                          captureTime: Double(index), value: 20)))
    }

    static func residentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8),
              let pages = text.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    func withServer(_ name: String, engine: PredictorEngine, _ body: (PredictorServer) async throws -> Void) async throws {
        let path = "/tmp/fa-pred-\(getpid())-\(name).sock"
        unlink(path)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let server = try await PredictorServer.start(path: path, engine: engine, group: group,
                                                     logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        do { try await body(server) } catch {
            try? await server.stop()
            try? await group.shutdownGracefully()
            throw error
        }
        try await server.stop()
        try await group.shutdownGracefully()
    }

    /// 200,000 pipelined requests from a client that never reads: the server stops reading once
    /// its answers are not taken, so the client is held back and the server's memory stays flat
    /// (it grew 73 MB before, linearly).
    @Test func aClientThatNeverReadsIsHeldBackAndMemoryStaysFlat() async throws {
        let engine = PredictorEngine(SpikePredictor(detector: .robust(.init(window: 20, minHistory: 5))))
        try await withServer("pipelining", engine: engine) { server in
            let client = try RawSocket(connectingTo: server.path)
            let before = Self.residentBytes()
            var sent = 0
            var heldBack = false
            while sent < 200_000 {
                let frame = Self.sampleFrame(sent)
                let n = frame.withUnsafeBytes { Glibc.send(client.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
                if n == frame.count {
                    sent += 1
                    continue
                }
                #expect(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK), "a partial or failed send: \(n), errno \(errno)")
                // Blocked: wait (bounded) for the server to take more.
                var descriptor = pollfd(fd: client.fd, events: Int16(POLLOUT), revents: 0)
                if poll(&descriptor, 1, 2_000) == 0 {
                    heldBack = true
                    break
                }
                if n > 0 { break }
            }
            #expect(heldBack, "the server read all \(sent) requests of a client that never reads")
            #expect(sent < 100_000)
            // What shows the bound is above: the server stopped taking requests. The resident set
            // is the whole test process's, and other suites run beside this one (32 MB of growth
            // seen on the Debian 13 leg), so it only catches a gross leak (73 MB before the fix).
            let growth = Self.residentBytes() - before
            #expect(growth < 64 << 20, "resident memory grew \(growth) bytes")
        }
    }

    /// A stream lives while a connection that fed it is open: once the client closes, the
    /// predictor forgets it.
    @Test func streamsAreReleasedWhenTheirConnectionCloses() async throws {
        let engine = PredictorEngine(SpikePredictor(detector: .robust(.init(window: 20, minHistory: 5))))
        try await withServer("scoped", engine: engine) { server in
            do {
                let client = try RawSocket(connectingTo: server.path)
                for index in 0..<3 {
                    client.send(Self.sampleFrame(index, device: "dev-\(index)"))
                    #expect(client.readPayload() != nil)
                }
                #expect(engine.streamCount == 3)
            }
            // The close reaches the server's event loop asynchronously: wait for it (bounded).
            let deadline = Date().addingTimeInterval(5)
            while engine.streamCount > 0, Date() < deadline { usleep(5_000) }
            #expect(engine.streamCount == 0)
        }
    }

    /// Streams no sample came for within the idle time-out are evicted, on the engine's clock.
    @Test func idleStreamsAreEvicted() {
        let now = Mutex(Duration.zero)
        let engine = PredictorEngine(SpikePredictor(detector: .robust(.init(window: 20, minHistory: 5))),
                                     idleStreamTimeout: .seconds(3600), now: { now.withLock { $0 } })
        func feed(_ device: String, at time: Duration) {
            now.withLock { $0 = time }
            _ = engine.classify(PredictorSample(device: device, channel: "temperature", captureTime: Double(time.components.seconds), value: 20))
        }
        feed("quiet", at: .seconds(1))
        feed("busy", at: .seconds(3000))
        #expect(engine.streamCount == 2)
        feed("busy", at: .seconds(3900))
        #expect(engine.streamCount == 1, "the stream silent for over an hour was evicted")
        feed("quiet", at: .seconds(4000))
        #expect(engine.streamCount == 2, "a stream that speaks again starts afresh")
    }
}
