import Foundation
import Logging
import NIOPosix
import Predictor
import PredictorLink
@testable import PredictorServer
import Synchronization
import TestSupport
import Testing

/// Hot swap under a running predictor: a new model delivered over predictor.v1 (`load_model`)
/// while a client streams samples: no sample goes without a verdict, the model id changes once,
/// and a corrupt, wrongly hashed or self-test-failing model is refused while the previous one
/// keeps serving.
struct HotSwapTests {
    static let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    static let files = PredictorEngine.ModelSource(
        read: { path in
            guard let data = FileManager.default.contents(atPath: path) else { return .failure(.init("cannot read \(path)")) }
            return .success([UInt8](data))
        },
        parse: { bytes in
            do { return .success(try SpikeForest(json: bytes)) } catch { return .failure(.init("\(error)")) }
        })

    static func write(_ bytes: [UInt8], _ name: String) throws -> String {
        let path = NSTemporaryDirectory() + "fa-hotswap-\(getpid())-\(name)"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func swapWithoutAGapAndRefusalsKeepThePreviousModel() async throws {
        let first = [UInt8](try Data(contentsOf: URL(fileURLWithPath: repositoryPath("models/spike-forest.v1.json"))))
        let second = [UInt8](try Data(contentsOf: URL(fileURLWithPath: repositoryPath("models/spike-gbt.v3.json"))))
        let firstModel = try SpikeForest(json: first), secondModel = try SpikeForest(json: second)
        #expect(firstModel.modelID != secondModel.modelID)
        #expect(firstModel.windows == secondModel.windows, "same windows: streams keep their history across the swap")

        let socket = "/tmp/fa-pred-\(getpid())-hotswap.sock"
        unlink(socket)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let engine = PredictorEngine(SpikePredictor(detector: .forest(firstModel)), models: Self.files)
        let server = try await PredictorServer.start(path: socket, engine: engine, group: group, logger: Self.logger)

        let secondPath = try Self.write(second, "second.json")
        let corruptPath = try Self.write(Array(second.prefix(second.count / 2)), "corrupt.json")
        // A valid file whose model never flags anything: it must fail the self-test.
        let silent = Array("""
            {"format":"fieldagent-predictor-model","version":1,"model_id":"silent","kind":"random_forest_classifier",
             "windows":{"short":8,"long":60,"min_history":30,"std_floor":1e-6},"features":["z_long"],"decision_threshold":0.5,
             "trees":[{"feature":[-2],"threshold":[0],"left":[-1],"right":[-1],"probability":[0]}]}
            """.utf8)
        let silentPath = try Self.write(silent, "silent.json")
        defer { for p in [secondPath, corruptPath, silentPath] { unlink(p) } }

        let samples = 1_500
        let ids = Mutex<[String]>([])
        let problems = Mutex<[String]>([])
        let outcomes = Mutex<[String: Result<String, PredictorLinkError>]>([:])
        DispatchQueue.concurrentPerform(iterations: 2) { worker in
            if worker == 0 {
                let client = PredictorClient(path: socket, deadline: .seconds(5))
                for i in 0..<samples {
                    let value = 20 + 0.1 * Double((i * 7919) % 13) / 13 + (i % 300 == 299 ? 5 : 0)
                    do {
                        let v = try client.classify(PredictorSample(device: "d", channel: "temperature", captureTime: Double(i), value: value))
                        ids.withLock { $0.append(v.modelID) }
                        if i >= 30 && v.warmingUp { problems.withLock { $0.append("sample \(i) warming up again") } }
                    } catch {
                        problems.withLock { $0.append("sample \(i): \(error)") }
                    }
                }
            } else {
                let admin = PredictorClient(path: socket, deadline: .seconds(5))
                let good = SHA256.hex(second)
                for (name, path, hash) in [("wrong hash", secondPath, String(repeating: "0", count: 64)),
                                           ("good", secondPath, good),
                                           ("corrupt", corruptPath, SHA256.hex(Array(second.prefix(second.count / 2)))),
                                           ("silent", silentPath, SHA256.hex(silent)),
                                           ("missing", "/nonexistent/model.json", good)] {
                    let result = Result { () throws(PredictorLinkError) -> String in try admin.loadModel(path: path, sha256: hash) }
                    outcomes.withLock { $0[name] = result }
                }
            }
        }
        // A stream lives as long as a connection that fed it (issue 19), so the model in service
        // afterwards is checked on a new stream fed past its warm-up on one connection.
        let afterClient = PredictorClient(path: socket, deadline: .seconds(5))
        var last: PredictorVerdict?
        for i in 0...60 {
            last = try afterClient.classify(PredictorSample(device: "d2", channel: "temperature", captureTime: Double(i),
                                                            value: 20 + 0.1 * Double((i * 7919) % 13) / 13))
        }
        let after = try #require(last)
        try await server.stop()
        try await group.shutdownGracefully()

        #expect(problems.withLock { $0 } == [], "every sample answered, no new warm-up")
        let seen = ids.withLock { $0 }
        #expect(seen.count == samples)
        // The ids run A…A B…B: one change, never back.
        let changes = zip(seen, seen.dropFirst()).filter { $0 != $1 }
        #expect(changes.count <= 1, "\(changes)")
        #expect(after.modelID == secondModel.modelID, "the delivered model serves after the refusals")
        #expect(!after.warmingUp)
        let results = outcomes.withLock { $0 }
        #expect((try? results["good"]?.get()) == secondModel.modelID)
        for refused in ["wrong hash", "corrupt", "silent", "missing"] {
            guard case .failure(.rejected("model_refused", let message))? = results[refused] else {
                Issue.record("\(refused): expected model_refused, got \(String(describing: results[refused]))")
                continue
            }
            if refused == "wrong hash" { #expect(message.contains("not the pinned")) }
            if refused == "silent" { #expect(message.contains("self-test")) }
        }
    }

    /// A delivery held half-way (its file read blocks until released) does not hold up samples:
    /// the load runs off the event loop, so other connections keep getting verdicts from the
    /// model in service, and the first sample after the answer comes from the new one.
    @Test func samplesAreAnsweredWhileAModelIsBeingLoaded() async throws {
        let first = try SpikeForest(json: [UInt8](try Data(contentsOf: URL(fileURLWithPath: repositoryPath("models/spike-forest.v1.json")))))
        let secondBytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: repositoryPath("models/spike-gbt.v3.json"))))
        let second = try SpikeForest(json: secondBytes)
        let reading = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0)
        let held = PredictorEngine.ModelSource(
            read: { path in
                reading.signal()
                release.wait()
                return Self.files.read(path)
            },
            parse: Self.files.parse)
        let socket = "/tmp/fa-pred-\(getpid())-held.sock"
        unlink(socket)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let engine = PredictorEngine(SpikePredictor(detector: .forest(first)), models: held)
        let server = try await PredictorServer.start(path: socket, engine: engine, group: group, logger: Self.logger)
        let path = repositoryPath("models/spike-gbt.v3.json")

        struct Seen: Sendable {
            var loadStarted = false
            var whileLoading: [Result<String, PredictorLinkError>] = []
            var delivery: Result<String, PredictorLinkError>?
            var after: Result<String, PredictorLinkError>?
        }
        // Blocking socket calls, on threads of their own (not the cooperative pool).
        let seen = await withCheckedContinuation { (done: CheckedContinuation<Seen, Never>) in
            Thread.detachNewThread {
                var seen = Seen()
                let delivered = DispatchSemaphore(value: 0)
                let delivery = Mutex<Result<String, PredictorLinkError>?>(nil)
                Thread.detachNewThread {
                    let admin = PredictorClient(path: socket, deadline: .seconds(30))
                    let result = Result { () throws(PredictorLinkError) -> String in try admin.loadModel(path: path, sha256: SHA256.hex(secondBytes)) }
                    delivery.withLock { $0 = result }
                    delivered.signal()
                }
                seen.loadStarted = reading.wait(timeout: .now() + 10) == .success
                let client = PredictorClient(path: socket, deadline: .seconds(5))
                func classify(_ i: Int) -> Result<String, PredictorLinkError> {
                    Result { () throws(PredictorLinkError) -> String in
                        try client.classify(PredictorSample(device: "d", channel: "t", captureTime: Double(i), value: 20 + 0.01 * Double(i % 7))).modelID
                    }
                }
                seen.whileLoading = (0..<40).map(classify)
                release.signal()
                _ = delivered.wait(timeout: .now() + 30)
                seen.delivery = delivery.withLock { $0 }
                seen.after = classify(40)
                done.resume(returning: seen)
            }
        }
        try await server.stop()
        try await group.shutdownGracefully()

        #expect(seen.loadStarted, "the delivery reached the model source")
        #expect(seen.whileLoading.count == 40)
        for (i, result) in seen.whileLoading.enumerated() {
            #expect((try? result.get()) == first.modelID, "sample \(i) during the load: \(result)")
        }
        #expect((try? seen.delivery?.get()) == second.modelID, "\(String(describing: seen.delivery))")
        #expect((try? seen.after?.get()) == second.modelID, "\(String(describing: seen.after))")
    }

    @Test func sha256MatchesTheStandardVectors() {
        #expect(SHA256.hex([]) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }

    @Test func shippedModelsPassTheSelfTest() throws {
        for name in ["spike-forest.v1.json", "spike-gbt.v3.json"] {
            let model = try SpikeForest(json: [UInt8](try Data(contentsOf: URL(fileURLWithPath: repositoryPath("models/\(name)")))))
            #expect(ModelSelfTest.failure(of: model) == nil, "\(name)")
        }
    }
}
