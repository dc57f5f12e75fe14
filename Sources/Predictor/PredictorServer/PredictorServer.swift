import Logging
import NIOCore
import NIOPosix
import Predictor
import SystemCalls

/// Why the predictor service could not start or stop cleanly.
public enum PredictorServerError: Error, Sendable, CustomStringConvertible {
    /// Another predictor answers on the socket already.
    case alreadyRunning(path: String)
    /// Something that is not a socket sits at the socket path.
    case pathInUse(path: String)
    case bindFailed(path: String, reason: String)
    case system(SystemError)

    public var description: String {
        switch self {
        case .alreadyRunning(let path):
            "a spike predictor already listens on \(path); stop it first (systemctl stop spike-predictor) or choose another --socket"
        case .pathInUse(let path):
            "\(path) exists and is not a socket; remove it or choose another --socket"
        case let .bindFailed(path, reason):
            "cannot listen on \(path): \(reason); check that the folder exists and is writable by this user"
        case .system(let error):
            "\(error)"
        }
    }
}

/// The spike-predictor service: predictor.v1 over a Unix stream socket, on SwiftNIO.
///
/// Contract:
/// - ``start(path:mode:engine:group:logger:)`` binds `path`, sets its mode (default 0660: the
///   agent's group may connect, others may not) and returns once it accepts connections. A stale
///   socket file (nobody answers) is replaced; a live one is refused (``PredictorServerError/alreadyRunning(path:)``).
/// - Any number of connections at once; each request frame gets exactly one answer frame, in
///   order. A malformed frame gets an error frame (docs in `firmware-interface/predictor.v1.md`).
/// - Bounded: a client that does not read its answers is not read from until it does (and is
///   closed when 1 MB of answers wait); the streams a connection fed are released when it
///   closes, and a stream silent for the engine's idle time-out is evicted.
/// - ``stop()`` closes the listener and every connection and removes the socket file.
public final class PredictorServer: Sendable {
    public let path: String
    public let engine: PredictorEngine
    private let channel: Channel

    private init(path: String, engine: PredictorEngine, channel: Channel) {
        self.path = path
        self.engine = engine
        self.channel = channel
    }

    public static func start(path: String, mode: UInt32 = 0o660, engine: PredictorEngine,
                             group: EventLoopGroup, logger: Logger) async throws(PredictorServerError) -> PredictorServer {
        if POSIX.exists(path, followingLinks: false) {
            guard (try? POSIX.status(path))?.kind == .socket else { throw .pathInUse(path: path) }
            if await isAnswering(path: path, group: group) { throw .alreadyRunning(path: path) }
        }
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(PredictorConnectionHandler(engine: engine, logger: logger))
                }
            }
        let channel: Channel
        do {
            channel = try await bootstrap.bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).get()
        } catch {
            throw .bindFailed(path: path, reason: "\(error)")
        }
        do throws(SystemError) {
            try POSIX.chmod(path, mode: mode)
        } catch {
            try? await channel.close()
            throw .system(error)
        }
        logger.info("spike predictor listening", metadata: ["socket": "\(path)", "model": "\(engine.modelID)"])
        return PredictorServer(path: path, engine: engine, channel: channel)
    }

    /// Closes the listener (open connections are closed with the event loop group) and removes
    /// the socket file.
    public func stop() async throws(PredictorServerError) {
        try? await channel.close()
        do throws(SystemError) {
            try POSIX.unlink(path, missingIsFine: true)
        } catch {
            throw .system(error)
        }
    }

    private static func isAnswering(path: String, group: EventLoopGroup) async -> Bool {
        do {
            let probe = try await ClientBootstrap(group: group).connect(unixDomainSocketPath: path).get()
            try? await probe.close()
            return true
        } catch {
            return false
        }
    }
}
