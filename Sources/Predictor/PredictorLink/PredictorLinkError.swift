#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SystemCalls

/// Why the agent got no verdict from the predictor. Every case means "use the fallback detector
/// for this sample"; the cases say why, for the log and for `doctor`.
public enum PredictorLinkError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Nobody listens: the socket file is missing (ENOENT) or stale (ECONNREFUSED).
    case notRunning(path: String, errno: Int32)
    /// No complete answer within the deadline (`stage`: connect, send or receive).
    case deadlineExceeded(path: String, deadline: Duration, stage: String)
    /// The predictor closed the connection before answering (it stopped or crashed).
    case connectionClosed(path: String)
    /// The predictor answered with an error frame (`code` from predictor.v1, e.g. out_of_order).
    case rejected(code: String, message: String)
    /// The answer was not a valid predictor.v1 verdict for this request.
    case protocolError(path: String, reason: String)
    /// Another OS failure (e.g. EACCES: the agent's user is not in the socket's group).
    case system(function: String, path: String, errno: Int32)

    public var description: String {
        switch self {
        case let .notRunning(path, errno):
            let why = errno == ENOENT ? "no socket at \(path)" : "nothing listens on \(path) (stale socket)"
            return "the spike predictor is not running: \(why); start it with `spike-predictor serve --socket \(path)` (or systemctl start spike-predictor)"
        case let .deadlineExceeded(path, deadline, stage):
            return "the spike predictor on \(path) did not answer within \(deadline) (\(stage)); it is overloaded or stuck"
        case .connectionClosed(let path):
            return "the spike predictor on \(path) closed the connection before answering; check its log"
        case let .rejected(code, message):
            return "the spike predictor refused the sample (\(code)): \(message)"
        case let .protocolError(path, reason):
            return "the spike predictor on \(path) sent an invalid answer: \(reason); are both sides on predictor.v1?"
        case let .system(function, path, errno):
            let hint = errno == EACCES ? "; add the agent's user to the socket's group (mode 0660)" : ""
            return "\(function) on \(path) failed: \(POSIX.describe(errno: errno)) (errno \(errno))\(hint)"
        }
    }
}
