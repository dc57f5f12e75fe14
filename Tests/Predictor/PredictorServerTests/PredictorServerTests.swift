import Foundation
import Logging
import NIOPosix
import Predictor
@testable import PredictorLink
@testable import PredictorServer
import Synchronization
import Testing

/// The service over a real Unix socket, with the agent's client (PredictorLink).
struct PredictorServerTests {
    static func socketPath(_ name: String) -> String {
        "/tmp/fa-pred-\(getpid())-\(name).sock"
    }

    static let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    /// Starts a server with the fallback detector (minHistory 5 so tests see verdicts quickly),
    /// runs `body`, then stops it and its event loops.
    func withServer(_ name: String, maxStreams: Int = 4_096,
                    _ body: (PredictorServer) async throws -> Void) async throws {
        let path = Self.socketPath(name)
        unlink(path)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let engine = PredictorEngine(SpikePredictor(detector: .robust(.init(window: 20, minHistory: 5)), maxStreams: maxStreams))
        let server = try await PredictorServer.start(path: path, engine: engine, group: group, logger: Self.logger)
        do {
            try await body(server)
        } catch {
            try? await server.stop()
            try? await group.shutdownGracefully()
            throw error
        }
        try await server.stop()
        try await group.shutdownGracefully()
        #expect(access(path, F_OK) != 0, "stop() removes the socket file")
    }

    @Test func answersOneVerdictPerSampleAndSetsTheMode() async throws {
        try await withServer("basic") { server in
            var info = stat()
            #expect(stat(server.path, &info) == 0)
            #expect(info.st_mode & 0o777 == 0o660, "mode \(String(info.st_mode & 0o777, radix: 8))")
            let client = PredictorClient(path: server.path, deadline: .seconds(2))
            var last: PredictorVerdict?
            for i in 0..<30 {
                let value = i == 29 ? 100.0 : 20 + Double(i % 3) * 0.1
                last = try client.classify(PredictorSample(device: "dev", channel: "temperature", captureTime: Double(i), value: value))
                #expect(last?.captureTime == Double(i))
            }
            #expect(last?.spikeDetected == true, "the planted spike at sample 29")
            #expect(last?.modelID.hasPrefix("robust-z.v1") == true)
            #expect(last?.features.map(\.name) == ["median", "mad", "robust_z"])
        }
    }

    @Test func servesSeveralClientsAndStreamsConcurrently() async throws {
        try await withServer("concurrent") { server in
            let failures = Mutex<[String]>([])
            let verdicts = Mutex(0)
            let path = server.path
            // Streams live while their connection is open: the clients stay connected until counted.
            final class Kept: @unchecked Sendable {
                let client: PredictorClient
                init(_ client: PredictorClient) { self.client = client }
            }
            let connected = Mutex<[Kept]>([])
            DispatchQueue.concurrentPerform(iterations: 6) { c in
                let client = PredictorClient(path: path, deadline: .seconds(5))
                for i in 0..<200 {
                    let channel = i % 2 == 0 ? "temperature" : "humidity"
                    let sample = PredictorSample(device: "agent-\(c)", channel: channel, captureTime: Double(i), value: Double(i % 7))
                    do {
                        let v = try client.classify(sample)
                        if v.device != sample.device || v.channel != channel || v.captureTime != Double(i) {
                            failures.withLock { $0.append("client \(c) got \(v) for \(sample)") }
                        }
                        verdicts.withLock { $0 += 1 }
                    } catch {
                        failures.withLock { $0.append("client \(c): \(error)") }
                        return
                    }
                }
                let kept = Kept(client)
                connected.withLock { $0.append(kept) }
            }
            #expect(failures.withLock { $0 } == [])
            #expect(verdicts.withLock { $0 } == 1_200)
            #expect(server.engine.streamCount == 12, "6 agents × 2 channels")
            connected.withLock { $0.removeAll() }
        }
    }

    @Test func malformedFrameGetsAnErrorFrameAndTheConnectionGoesOn() async throws {
        try await withServer("malformed") { server in
            let raw = try RawSocket(connectingTo: server.path)
            let junk = Array(#"{"v":1,"type":"sample","id":5,"device":"d"}"#.utf8)
            raw.send([0, 0, 0, UInt8(junk.count)] + junk)
            let answer = try PredictorWire.decode(payload: try #require(raw.readPayload()))
            guard case .error(let id, let code, let message) = answer else {
                Issue.record("expected an error frame, got \(answer)")
                return
            }
            #expect(id == 5 && code == "missing_field", "\(message)")
            // Same connection, a good sample now.
            let sample = PredictorSample(device: "d", channel: "c", captureTime: 1, value: 2)
            raw.send(PredictorWire.encode(.sample(id: 6, sample)))
            let verdict = try PredictorWire.decode(payload: try #require(raw.readPayload()))
            guard case .verdict(6, let v) = verdict else {
                Issue.record("expected verdict 6, got \(verdict)")
                return
            }
            #expect(v.device == "d" && v.warmingUp)
        }
    }

    @Test func brokenLengthGetsAnErrorFrameThenACleanClose() async throws {
        try await withServer("toolong") { server in
            let raw = try RawSocket(connectingTo: server.path)
            raw.send(Array("GET / HTTP/1.1\r\n\r\n".utf8))
            let answer = try PredictorWire.decode(payload: try #require(raw.readPayload()))
            guard case .error(nil, "frame_too_long", _) = answer else {
                Issue.record("expected frame_too_long, got \(answer)")
                return
            }
            #expect(raw.isClosedByPeer())
            // The server survives: a new client is served.
            let client = PredictorClient(path: server.path, deadline: .seconds(2))
            _ = try client.classify(PredictorSample(device: "after", channel: "c", captureTime: 0, value: 1))
        }
    }

    @Test func refusalsKeepTheConnection() async throws {
        try await withServer("refusals", maxStreams: 1) { server in
            let client = PredictorClient(path: server.path, deadline: .seconds(2))
            func refusal(_ device: String, _ time: Double) -> String? {
                do throws(PredictorLinkError) {
                    _ = try client.classify(PredictorSample(device: device, channel: "c", captureTime: time, value: 1))
                    return nil
                } catch {
                    guard case .rejected(let code, _) = error else { return "\(error)" }
                    return code
                }
            }
            #expect(refusal("d", 10) == nil)
            #expect(refusal("d", 10) == "out_of_order", "a repeated sample")
            #expect(refusal("d", 9) == "out_of_order", "an older sample")
            #expect(refusal("other", 1) == "too_many_streams")
            #expect(client.isConnected, "a refusal is an answer; the connection stays")
            _ = try client.classify(PredictorSample(device: "d", channel: "c", captureTime: 11, value: 1))
        }
    }

    @Test func secondServerOnALiveSocketIsRefused() async throws {
        try await withServer("twice") { server in
            let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            await #expect(throws: PredictorServerError.self) {
                _ = try await PredictorServer.start(path: server.path, engine: server.engine, group: group, logger: Self.logger)
            }
            try await group.shutdownGracefully()
        }
    }

    @Test func staleSocketFileIsReplaced() async throws {
        let path = Self.socketPath("stale")
        unlink(path)
        do {
            let stale = try RawSocket(listeningAt: path, listening: false)
            _ = stale
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let server = try await PredictorServer.start(path: path, engine: PredictorEngine(SpikePredictor(detector: .robust(.standard))),
                                                     group: group, logger: Self.logger)
        _ = try PredictorClient(path: path, deadline: .seconds(2)).classify(PredictorSample(device: "d", channel: "c", captureTime: 0, value: 0))
        try await server.stop()
        try await group.shutdownGracefully()
    }
}

/// The client's failure cases, each typed for the agent's fallback switch.
struct PredictorClientTests {
    @Test func missingSocketIsNotRunningWithHowToStart() throws {
        let client = PredictorClient(path: "/tmp/fa-pred-none-\(getpid()).sock", deadline: .milliseconds(100))
        do {
            _ = try client.classify(PredictorSample(device: "d", channel: "c", captureTime: 0, value: 0))
            Issue.record("expected notRunning")
        } catch {
            #expect(error == .notRunning(path: client.path, errno: ENOENT))
            #expect(error.description.contains("spike-predictor serve --socket \(client.path)"))
        }
    }

    @Test func staleSocketIsNotRunning() throws {
        let path = PredictorServerTests.socketPath("refused")
        unlink(path)
        let stale = try RawSocket(listeningAt: path, listening: false)
        defer { unlink(path); _ = stale }
        let client = PredictorClient(path: path, deadline: .milliseconds(100))
        #expect(throws: PredictorLinkError.notRunning(path: path, errno: ECONNREFUSED)) {
            try client.classify(PredictorSample(device: "d", channel: "c", captureTime: 0, value: 0))
        }
    }

    @Test func silentPredictorExceedsTheDeadline() throws {
        let path = PredictorServerTests.socketPath("silent")
        unlink(path)
        let silent = try RawSocket(listeningAt: path)
        defer { unlink(path); _ = silent }
        let client = PredictorClient(path: path, deadline: .milliseconds(50))
        let clock = ContinuousClock()
        let start = clock.now
        do {
            _ = try client.classify(PredictorSample(device: "d", channel: "c", captureTime: 0, value: 0))
            Issue.record("expected deadlineExceeded")
        } catch {
            guard case .deadlineExceeded(path, .milliseconds(50), "receive") = error else {
                Issue.record("got \(error)")
                return
            }
        }
        let waited = start.duration(to: clock.now)
        #expect(waited >= .milliseconds(50) && waited < .milliseconds(500), "waited \(waited)")
        #expect(!client.isConnected, "a late answer must never be read as the next one's")
    }
}
