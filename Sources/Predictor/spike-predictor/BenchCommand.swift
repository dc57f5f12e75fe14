import CLISupport
import ArgumentParser
import Dispatch
import Foundation
import Logging
import NIOPosix
import Predictor
import PredictorLink
import PredictorServer
import Synchronization
import TrainingData

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time inference per sample and the client→predictor→client round trip over the socket.",
        discussion: """
            Targets (issue 7): at most 20 µs per inference, p99 round trip at most 1 ms. Build \
            with -c release for figures worth quoting (scripts/bench-predictor.sh does).
            """)

    @Option(name: .long, help: "The model.")
    var model: String = "models/spike-gbt.v3.json"

    @Option(name: .long, help: "Samples for the inference timing.")
    var samples: Int = 200_000

    @Option(name: .long, help: "Requests for the round-trip timing (split over the clients).")
    var requests: Int = 20_000

    @Option(name: .long, help: "Concurrent clients for the round-trip timing, each with its own connection and stream.")
    var clients: Int = 1

    @Option(name: .long, help: "A running predictor's socket; without it the benchmark starts one in this process.")
    var socket: String?

    func validate() throws {
        if samples < 1_000 || samples > 100_000_000 { throw ValidationError("--samples must be 1000…100000000") }
        if requests < 100 || requests > 10_000_000 { throw ValidationError("--requests must be 100…10000000") }
        if clients < 1 || clients > 64 { throw ValidationError("--clients must be 1…64") }
    }

    func run() async throws {
        let forest = try loadModel(model)
        // A realistic series: one simulated channel with events of every kind.
        let series = TrainingGenerator(hours: 24).series(seed: 4_242)[0]
        let values = (0..<samples).map { series[$0 % series.count].value }

        // 1. Inference in process: rolling features + forest, as the server does per sample.
        var predictor = SpikePredictor(detector: .forest(forest))
        var perSample = [Double]()
        perSample.reserveCapacity(samples)
        var flagged = 0
        let clock = ContinuousClock()
        let totalStart = clock.now
        for (i, v) in values.enumerated() {
            let t0 = clock.now
            let verdict = try? predictor.classify(PredictorSample(device: "bench", channel: "temperature",
                                                                  captureTime: Double(i), value: v))
            perSample.append(microseconds(t0.duration(to: clock.now)))
            if verdict?.spikeDetected == true { flagged += 1 }
        }
        let inferenceMean = microseconds(totalStart.duration(to: clock.now)) / Double(samples)
        // The forest alone, on precomputed feature vectors.
        var rolling = RollingFeatures(windows: forest.windows)
        let vectors = values.prefix(20_000).map { rolling.next($0) }
        var sink = 0.0
        let forestStart = clock.now
        for _ in 0..<5 { for v in vectors { sink += forest.probability(v) } }
        let forestMean = microseconds(forestStart.duration(to: clock.now)) / Double(vectors.count * 5)

        // 2. Round trip over the Unix socket.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var server: PredictorServer?
        let path: String
        if let socket {
            path = socket
        } else {
            path = NSTemporaryDirectory() + "spike-predictor-bench-\(getpid()).sock"
            let engine = PredictorEngine(SpikePredictor(detector: .forest(forest)))
            server = try await PredictorServer.start(path: path, engine: engine, group: group,
                                                     logger: Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() }))
        }
        let latencies = Mutex<[Double]>([])
        let failures = Mutex<[String]>([])
        let perClient = requests / clients
        // Fresh stream names per run, so a long-running external predictor sees new streams.
        let runID = UInt64(Date().timeIntervalSince1970 * 1_000)
        let roundTripStart = clock.now
        DispatchQueue.concurrentPerform(iterations: clients) { c in
            let client = PredictorClient(path: path, deadline: .seconds(1))
            var mine: [Double] = []
            mine.reserveCapacity(perClient)
            let clock = ContinuousClock()
            for i in 0..<perClient {
                let sample = PredictorSample(device: "bench-\(runID)-\(c)", channel: "temperature", captureTime: Double(i),
                                             value: values[i % values.count])
                let t0 = clock.now
                do {
                    _ = try client.classify(sample)
                } catch {
                    failures.withLock { $0.append("\(error)") }
                    return
                }
                mine.append(microseconds(t0.duration(to: clock.now)))
            }
            latencies.withLock { $0 += mine }
        }
        let wall = roundTripStart.duration(to: clock.now)
        try? await server?.stop()
        try? await group.shutdownGracefully()
        if let first = failures.withLock({ $0.first }) {
            printError("round trip failed: \(first)")
            throw Exit.failed
        }
        let trips = latencies.withLock { $0 }.sorted()
        let inference = perSample.sorted()

        print("spike-predictor bench: model \(forest.modelID) (\(forest.treeCount) trees, \(forest.nodeCount) nodes), "
              + "\(ProcessInfo.processInfo.activeProcessorCount) cores, \(flagged) of \(samples) samples flagged (sink \(sink > 0 ? "ok" : "0"))")
        print("")
        print("| measurement | n | mean | p50 | p99 | max | target |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
        print("| inference per sample (features + forest), µs | \(samples) | \(f(inferenceMean)) | \(f(pct(inference, 50))) | "
              + "\(f(pct(inference, 99))) | \(f(inference.last ?? 0)) | ≤ 20 µs \(inferenceMean <= 20 ? "met" : "MISSED") |")
        print("| forest alone per sample, µs | \(vectors.count * 5) | \(f(forestMean)) | - | - | - | |")
        let p99 = pct(trips, 99)
        print("| round trip agent→predictor→agent, µs (\(clients) client\(clients == 1 ? "" : "s"), \(socket == nil ? "in-process server" : "external server")) | "
              + "\(trips.count) | \(f(trips.reduce(0, +) / Double(max(trips.count, 1)))) | \(f(pct(trips, 50))) | \(f(p99)) | "
              + "\(f(trips.last ?? 0)) | p99 ≤ 1000 µs \(p99 <= 1_000 ? "met" : "MISSED") |")
        print("")
        print("throughput: \(Int(Double(trips.count) / max(seconds(wall), 1e-9))) round trips/s over \(clients) connection\(clients == 1 ? "" : "s")")
    }

    private func microseconds(_ d: Duration) -> Double { seconds(d) * 1e6 }
    private func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }
    private func pct(_ sorted: [Double], _ p: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        // Nearest rank: the smallest value with at least p % of the samples at or below it.
        let rank = Int((p / 100 * Double(sorted.count)).rounded(.up))
        return sorted[min(max(rank, 1), sorted.count) - 1]
    }
    private func f(_ x: Double) -> String { String(format: "%.2f", x) }
}
