import CLISupport
import ArgumentParser
import Dispatch
import Foundation
import Logging
import NIOPosix
import Predictor
import PredictorServer
import ServiceNotify
import Synchronization

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Answer predictor.v1 samples on a Unix socket until SIGTERM or SIGINT.")

    @Option(name: .long, help: "The socket path (e.g. /run/fieldagent/predictor.sock).")
    var socket: String

    @Option(name: .long, help: "The model (models/spike-gbt.v3.json, or any model file: our JSON or ONNX). Without it the fallback robust z-score answers.")
    var model: String?

    @Option(name: .long, help: "The socket file's mode, in octal.")
    var mode: String = "0660"

    @Option(name: .long, help: "Most (device, channel) streams tracked at once.")
    var maxStreams: Int = 4_096

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    func validate() throws {
        guard let m = UInt32(mode, radix: 8), m <= 0o777 else { throw ValidationError("--mode must be octal permissions like 0660, not \(mode)") }
        if m & 0o600 != 0o600 { throw ValidationError("--mode \(mode) would lock the predictor's own user out; keep at least 0600") }
        if maxStreams < 1 || maxStreams > 1_000_000 { throw ValidationError("--max-streams must be 1…1000000, not \(maxStreams)") }
        if socket.utf8.count > 107 { throw ValidationError("--socket must be at most 107 bytes long (sockaddr_un), not \(socket.utf8.count)") }
    }

    func run() async throws {
        let logger = bootstrapLogging(logLevel, label: "spike-predictor")
        let detector: SpikePredictor.Detector
        if let model {
            detector = .forest(try loadModel(model))
        } else {
            logger.warning("no --model: serving the fallback robust z-score detector")
            detector = .robust(.standard)
        }
        let engine = PredictorEngine(SpikePredictor(detector: detector, maxStreams: maxStreams), models: modelFiles)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let signals = SignalWaiter([SIGTERM, SIGINT])
        let server: PredictorServer
        do {
            server = try await PredictorServer.start(path: socket, mode: UInt32(mode, radix: 8) ?? 0o660, engine: engine,
                                                     group: group, logger: logger)
        } catch {
            printError("\(error)")
            try? await group.shutdownGracefully()
            throw Exit.failed
        }
        // Under systemd (Type=notify): READY once the socket accepts, watchdog pings while the
        // event loop still runs its one-second tick.
        let notifier = ServiceNotifier(environment: ServiceManagerEnvironment(environment: ProcessInfo.processInfo.environment,
                                                                              pid: getpid()), logger: logger)
        let loopPromise = Mutex<ContinuousClock.Instant?>(ContinuousClock.now + .seconds(1))
        let tick = group.next().scheduleRepeatedTask(initialDelay: .zero, delay: .seconds(1)) { _ in
            loopPromise.withLock { $0 = ContinuousClock.now + .seconds(1) }
        }
        notifier.watch("event loop") { loopPromise.withLock { $0 } }
        notifier.send(.ready(status: "answering on \(socket) (\(model == nil ? "fallback robust z-score" : "forest model"))"))
        notifier.startWatchdog()
        let signal = await signals.next()
        logger.info("stopping", metadata: ["signal": "\(signal)", "streams": "\(engine.streamCount)"])
        tick.cancel()
        notifier.stop(status: "stopping on signal \(signal)")
        do {
            try await server.stop()
        } catch {
            logger.error("stopping left something behind", metadata: ["error": "\(error)"])
        }
        try? await group.shutdownGracefully()
    }
}

/// Turns SIGTERM/SIGINT into an awaitable event (DispatchSource; the default actions are
/// ignored so the process can close the socket and remove its file first).
final class SignalWaiter {
    private let stream: AsyncStream<Int32>
    private let sources: [any DispatchSourceSignal]

    init(_ numbers: [Int32]) {
        let (stream, continuation) = AsyncStream<Int32>.makeStream()
        self.stream = stream
        sources = numbers.map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { continuation.yield(number) }
            source.resume()
            return source
        }
    }

    func next() async -> Int32 {
        var iterator = stream.makeAsyncIterator()
        return await iterator.next() ?? SIGTERM
    }
}
