#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Predictor
import SystemCalls

/// The agent's side of predictor.v1: a blocking client on the predictor's Unix socket.
///
/// Contract:
/// - One request, one verdict: ``classify(_:)`` sends the sample and waits for the answer with
///   the same id. The whole exchange (connecting if needed, sending, receiving) must finish
///   within `deadline`, measured on the monotonic clock and waited for with poll(2); past it the
///   call throws ``PredictorLinkError/deadlineExceeded(path:deadline:stage:)``.
/// - The connection is opened on first use and kept. After any failure but a refusal
///   (``PredictorLinkError/rejected(code:message:)``) it is closed, so a late answer can never be
///   taken for the next request's, and the next call connects afresh: when the predictor comes
///   back, the next sample reaches it.
/// - Not thread-safe: one client per calling task (the agent's router owns one).
public final class PredictorClient {
    public let path: String
    public let deadline: Duration
    private var fd: Int32 = -1
    private var nextID: UInt64 = 1
    private var reader = PredictorFrameReader()
    private var receiveBuffer = [UInt8](repeating: 0, count: 4_096)

    public init(path: String, deadline: Duration) {
        self.path = path
        self.deadline = deadline
    }

    deinit {
        if fd >= 0 { POSIX.close(fd) }
    }

    /// True while a connection is open (it may still turn out to be dead on the next call).
    public var isConnected: Bool { fd >= 0 }

    public func close() {
        if fd >= 0 { POSIX.close(fd) }
        fd = -1
        reader = PredictorFrameReader()
    }

    public func classify(_ sample: PredictorSample) throws(PredictorLinkError) -> PredictorVerdict {
        let answer = try exchange(deadline: deadline) { id in .sample(id: id, sample) }
        guard case .verdict(_, let verdict) = answer else {
            close()
            throw PredictorLinkError.protocolError(path: path, reason: "expected a verdict, got \(answer)")
        }
        return verdict
    }

    /// Asks the predictor to serve the model file at `path` (on the predictor's file system) once
    /// its SHA-256 is `sha256`; returns the model id now serving. A refusal
    /// (``PredictorLinkError/rejected(code:message:)`` with code `model_refused`) leaves the
    /// previous model serving. Reading, hashing and self-testing take a while: `deadline` is
    /// separate from the per-sample one.
    public func loadModel(path modelPath: String, sha256: String, deadline: Duration = .seconds(10)) throws(PredictorLinkError) -> String {
        let answer = try exchange(deadline: deadline) { id in .loadModel(id: id, path: modelPath, sha256: sha256) }
        guard case .modelLoaded(_, let modelID, _) = answer else {
            close()
            throw PredictorLinkError.protocolError(path: path, reason: "expected model_loaded, got \(answer)")
        }
        return modelID
    }

    /// Sends one request and returns its answer (a verdict or model_loaded), throwing refusals.
    private func exchange(deadline: Duration, _ request: (UInt64) -> PredictorMessage) throws(PredictorLinkError) -> PredictorMessage {
        let start = ContinuousClock.now
        let end = start.advanced(by: deadline)
        let id = nextID
        nextID = nextID >= PredictorWire.maxID ? 1 : nextID + 1
        do throws(PredictorLinkError) {
            if fd < 0 { try connect(until: end) }
            try send(PredictorWire.encode(request(id)), until: end)
            let answer = try receive(until: end)
            switch answer {
            case .verdict(let answerID, _) where answerID == id, .modelLoaded(let answerID, _, _) where answerID == id:
                return answer
            case .error(let answerID, let code, let message) where answerID == id || answerID == nil:
                if answerID == nil { close() }
                throw PredictorLinkError.rejected(code: code, message: message)
            default:
                throw PredictorLinkError.protocolError(path: path, reason: "expected the verdict for request \(id), got \(answer)")
            }
        } catch {
            if case .rejected = error {} else { close() }
            throw error
        }
    }

    // MARK: Steps

    private func remainingMilliseconds(until end: ContinuousClock.Instant, stage: String) throws(PredictorLinkError) -> Int32 {
        let left = ContinuousClock.now.duration(to: end)
        guard left > .zero else { throw .deadlineExceeded(path: path, deadline: deadline, stage: stage) }
        let (seconds, attoseconds) = left.components
        // Round up so a sub-millisecond remainder still waits instead of spinning.
        return Int32(clamping: seconds * 1_000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000)
    }

    private func connect(until end: ContinuousClock.Instant) throws(PredictorLinkError) {
        let socket: Int32
        let connected: Bool
        do throws(SystemError) {
            (socket, connected) = try POSIX.connectUnix(path, nonBlocking: true)
        } catch {
            throw linkError(error)
        }
        if !connected {
            do throws(PredictorLinkError) {
                try wait(socket, for: POSIX.writable, until: end, stage: "connect")
                let status: Int32
                do throws(SystemError) { status = try POSIX.pendingError(socket) } catch { throw linkError(error) }
                if status != 0 { throw linkError(SystemError(errno: status, function: "connect", subject: path)) }
            } catch {
                POSIX.close(socket)
                throw error
            }
        }
        fd = socket
        reader = PredictorFrameReader()
    }

    /// ENOENT or ECONNREFUSED on connect: nobody serves the socket; anything else is reported as it is.
    private func linkError(_ error: SystemError) -> PredictorLinkError {
        if error.function == "connect", error.errno == ENOENT || error.errno == ECONNREFUSED {
            return .notRunning(path: path, errno: error.errno)
        }
        return .system(function: error.function, path: path, errno: error.errno)
    }

    private func send(_ frame: [UInt8], until end: ContinuousClock.Instant) throws(PredictorLinkError) {
        var offset = 0
        while offset < frame.count {
            let sent: Int?
            do throws(SystemError) {
                let fd = fd
                sent = try frame.withUnsafeBytes { raw in
                    Result { () throws(SystemError) in try POSIX.send(fd, UnsafeRawBufferPointer(rebasing: raw[offset...])) }
                }.get()
            } catch {
                if error.errno == EPIPE || error.errno == ECONNRESET { throw .connectionClosed(path: path) }
                throw linkError(error)
            }
            if let sent {
                offset += sent
                continue
            }
            try wait(fd, for: POSIX.writable, until: end, stage: "send")
        }
    }

    private func receive(until end: ContinuousClock.Instant) throws(PredictorLinkError) -> PredictorMessage {
        while true {
            let payload: [UInt8]?
            do throws(PredictorFrameError) {
                payload = try reader.nextPayload()
            } catch {
                throw .protocolError(path: path, reason: error.description)
            }
            if let payload {
                do throws(PredictorFrameError) {
                    return try PredictorWire.decode(payload: payload)
                } catch {
                    throw .protocolError(path: path, reason: error.description)
                }
            }
            let count: Int?
            do throws(SystemError) {
                let fd = fd
                count = try receiveBuffer.withUnsafeMutableBytes { raw in
                    Result { () throws(SystemError) in try POSIX.receive(fd, into: raw) }
                }.get()
            } catch {
                if error.errno == ECONNRESET { throw .connectionClosed(path: path) }
                throw linkError(error)
            }
            switch count {
            case .some(0):
                throw .connectionClosed(path: path)
            case .some(let n):
                reader.append(receiveBuffer[0..<n])
            case .none:
                try wait(fd, for: POSIX.readable, until: end, stage: "receive")
            }
        }
    }

    private func wait(_ socket: Int32, for events: Int16, until end: ContinuousClock.Instant,
                      stage: String) throws(PredictorLinkError) {
        let milliseconds = try remainingMilliseconds(until: end, stage: stage)
        let ready: Bool
        do throws(SystemError) {
            ready = try POSIX.poll(socket, events: events, milliseconds: milliseconds)
        } catch {
            throw linkError(error)
        }
        if !ready { throw .deadlineExceeded(path: path, deadline: deadline, stage: stage) }
    }
}
