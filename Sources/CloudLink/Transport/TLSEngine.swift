import COpenSSL
import COpenSSLShims
import Identity
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A time limit for one operation: when it ends, and how long it was (for the message).
struct Deadline {
    var instant: ContinuousClock.Instant
    var length: Duration

    init(_ length: Duration) {
        self.length = length
        instant = ContinuousClock.now.advanced(by: length)
    }
}

/// Drives one `SSL *` over two memory BIOs and a non-blocking socket: OpenSSL never touches the
/// socket, so every wait has a deadline, `EINTR` is retried in one place, `send` cannot raise
/// SIGPIPE, and the same engine can later sit under a SwiftNIO channel (DESIGN.md §2).
///
/// Not thread-safe; ``TLSConnection`` serialises calls. Owns `fd` and closes it on deinit.
final class TLSEngine {
    enum Outcome {
        /// The call succeeded with this (positive) result.
        case value(Int32)
        /// The peer sent close_notify.
        case closeNotify
        /// The peer closed TCP without close_notify.
        case endOfStream
    }

    let ssl: OpaquePointer
    let readBIO: OpaquePointer
    let writeBIO: OpaquePointer
    let fd: Int32
    let peer: String
    let expectedHost: String?
    private let context: TLSContext
    private let record = VerifyRecord()
    private var peerClosedTCP = false
    /// One scratch buffer for moving bytes between the socket and the BIOs (calls on an engine
    /// are serialised), so a busy link does not allocate and zero 16 KB per send and receive.
    private var chunk = [UInt8](repeating: 0, count: 16_384)
    private(set) var failed = false
    private(set) var isClosed = false

    /// Takes over `fd` only when it returns; on a throw the caller still owns it.
    static func make(context: TLSContext, fd: Int32, peer: String,
                     expectedHost: String?) throws(TransportError) -> TLSEngine {
        OpenSSLError.clear()
        guard let ssl = SSL_new(context.pointer) else {
            throw .tls(operation: "SSL_new", peer: peer, errors: OpenSSLError.drain())
        }
        guard let readBIO = BIO_new(BIO_s_mem()) else {
            SSL_free(ssl)
            throw .tls(operation: "BIO_new", peer: peer, errors: OpenSSLError.drain())
        }
        guard let writeBIO = BIO_new(BIO_s_mem()) else {
            BIO_free(readBIO)
            SSL_free(ssl)
            throw .tls(operation: "BIO_new", peer: peer, errors: OpenSSLError.drain())
        }
        SSL_set_bio(ssl, readBIO, writeBIO)  // the SSL owns both BIOs from here
        if !context.isServer, let host = expectedHost {
            var ok: Bool
            if System.isIPAddress(host) {
                ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) == 1
            } else {
                ok = COpenSSLShims_SSL_set_tlsext_host_name(ssl, host) == 1 && SSL_set1_host(ssl, host) == 1
            }
            if !ok {
                let errors = OpenSSLError.drain()
                SSL_free(ssl)
                throw .tls(operation: "setting the expected host name \(host)", peer: peer, errors: errors)
            }
        }
        let engine = TLSEngine(ssl: ssl, readBIO: readBIO, writeBIO: writeBIO, fd: fd, peer: peer,
                               expectedHost: expectedHost, context: context)
        if context.isServer { SSL_set_accept_state(ssl) } else { SSL_set_connect_state(ssl) }
        return engine
    }

    private init(ssl: OpaquePointer, readBIO: OpaquePointer, writeBIO: OpaquePointer, fd: Int32, peer: String,
                 expectedHost: String?, context: TLSContext) {
        self.ssl = ssl
        self.readBIO = readBIO
        self.writeBIO = writeBIO
        self.fd = fd
        self.peer = peer
        self.expectedHost = expectedHost
        self.context = context
        // The verify callback finds the record through the SSL's app data (ex_data index 0).
        SSL_set_ex_data(ssl, 0, Unmanaged.passUnretained(record).toOpaque())
    }

    deinit {
        SSL_free(ssl)
        if !isClosed { System.close(fd) }
    }

    func handshake(until deadline: Deadline) throws(TransportError) {
        switch try run("handshake", until: deadline, handshake: true, { SSL_do_handshake($0) }) {
        case .value: return
        case .closeNotify, .endOfStream:
            failed = true
            throw .closed(peer: peer, reason: "the peer closed the connection during the TLS handshake "
                + "(it may not speak TLS on this port, or it refused us without an alert)")
        }
    }

    /// Calls `call` until it succeeds, sending what OpenSSL wrote and feeding what arrives.
    func run(_ operation: String, until deadline: Deadline, handshake: Bool = false,
             _ call: (OpaquePointer) -> Int32) throws(TransportError) -> Outcome {
        while true {
            OpenSSLError.clear()
            let result = call(ssl)
            let status = SSL_get_error(ssl, result)
            let errors = OpenSSLError.drain()  // at once, before anything else can touch the queue
            // Send what OpenSSL produced (handshake records, an alert, close_notify) even when the
            // call failed, so the peer learns why.
            var flushError: TransportError?
            do { try flush(until: deadline, operation: operation) } catch { flushError = error }
            switch status {
            case SSL_ERROR_NONE:
                if let flushError { throw flushError }
                return .value(result)
            case SSL_ERROR_ZERO_RETURN:
                return .closeNotify
            case SSL_ERROR_WANT_READ:
                if let flushError { throw flushError }
                if peerClosedTCP { return .endOfStream }
                try fill(until: deadline, operation: operation)
            case SSL_ERROR_WANT_WRITE:
                if let flushError { throw flushError }  // memory BIOs never fill; just go again
            default:
                failed = true
                throw classify(operation: operation, handshake: handshake, errors: errors)
            }
        }
    }

    /// Sends everything waiting in the write BIO.
    func flush(until deadline: Deadline, operation: String) throws(TransportError) {
        while BIO_ctrl_pending(writeBIO) > 0 {
            let count = chunk.withUnsafeMutableBytes { BIO_read(writeBIO, $0.baseAddress, Int32($0.count)) }
            if count <= 0 { return }
            var offset = 0
            while offset < Int(count) {
                do {
                    offset += try System.call("send") {
                        chunk[offset..<Int(count)].withUnsafeBytes {
                            send(fd, $0.baseAddress, $0.count, System.sendFlags)
                        }
                    }
                } catch where error.errno == EAGAIN || error.errno == EWOULDBLOCK {
                    try wait(for: Int16(POLLOUT), until: deadline, operation: operation)
                } catch where error.errno == EPIPE || error.errno == ECONNRESET {
                    failed = true
                    throw .closed(peer: peer, reason: "the peer closed the connection (\(error.reason))")
                } catch {
                    failed = true
                    throw .system(operation: error.function, peer: peer, errno: error.errno, reason: error.reason)
                }
            }
        }
    }

    /// Waits for bytes and puts them into the read BIO; notes TCP end of stream.
    private func fill(until deadline: Deadline, operation: String) throws(TransportError) {
        try wait(for: Int16(POLLIN), until: deadline, operation: operation)
        let count: Int
        do {
            count = try System.call("recv") { chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) } }
        } catch where error.errno == EAGAIN || error.errno == EWOULDBLOCK {
            return  // woken without data; the caller tries again
        } catch where error.errno == ECONNRESET {
            peerClosedTCP = true
            return
        } catch {
            failed = true
            throw .system(operation: error.function, peer: peer, errno: error.errno, reason: error.reason)
        }
        if count == 0 {
            peerClosedTCP = true
            return
        }
        let written = chunk.withUnsafeBytes { BIO_write(readBIO, $0.baseAddress, Int32(count)) }
        if written != Int32(count) {
            failed = true
            throw .tls(operation: "BIO_write", peer: peer, errors: OpenSSLError.drain())
        }
    }

    private func wait(for events: Int16, until deadline: Deadline,
                      operation: String) throws(TransportError) {
        let ready: Bool
        do { ready = try System.wait(fd, for: events, until: deadline.instant) } catch {
            throw .system(operation: error.function, peer: peer, errno: error.errno, reason: error.reason)
        }
        if !ready { throw .timeout(operation: operation, peer: peer, after: deadline.length) }
    }

    /// Maps a failed OpenSSL call to the case a user can act on.
    private func classify(operation: String, handshake: Bool, errors: [OpenSSLError]) -> TransportError {
        func has(_ reason: Int32) -> Bool { errors.contains(library: ERR_LIB_SSL, reason: reason) }
        if handshake, let code = record.code {
            if code == X509_V_ERR_HOSTNAME_MISMATCH || code == X509_V_ERR_IP_ADDRESS_MISMATCH {
                let presented = record.certificate.map { $0.subjectAlternativeNames ?? $0.subject } ?? "unknown names"
                return .hostnameMismatch(peer: peer, expected: expectedHost ?? "?", presented: presented, errors: errors)
            }
            return .tlsHandshake(peer: peer, verifyResult: record.text, errors: errors)
        }
        if has(SSL_R_TLSV1_ALERT_PROTOCOL_VERSION) {
            return .protocolVersion(peer: peer, detail: "the peer answered with a protocol_version alert: it "
                + "supports no version from \(versionRange) that we offered", errors: errors)
        }
        if has(SSL_R_UNSUPPORTED_PROTOCOL) || has(SSL_R_NO_PROTOCOLS_AVAILABLE) || has(SSL_R_WRONG_VERSION_NUMBER) {
            return .protocolVersion(peer: peer, detail: "the peer offered a TLS version outside \(versionRange)",
                                    errors: errors)
        }
        if has(SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE) {
            return .peerCertificateMissing(peer: peer, errors: errors)
        }
        let rejections = [SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED, SSL_R_SSLV3_ALERT_BAD_CERTIFICATE,
                          SSL_R_TLSV1_ALERT_UNKNOWN_CA, SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED,
                          SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN, SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED,
                          SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE, SSL_R_TLSV1_ALERT_ACCESS_DENIED]
        if let alert = errors.first(where: { $0.libraryCode == ERR_LIB_SSL && rejections.contains($0.reasonCode) }) {
            return .certificateRejectedByPeer(peer: peer, alert: alert.reason, errors: errors)
        }
        if handshake { return .tlsHandshake(peer: peer, verifyResult: nil, errors: errors) }
        return .tls(operation: operation, peer: peer, errors: errors)
    }

    /// `TLS 1.2 and newer` / `TLS 1.0 to TLS 1.1`, from the context's configuration.
    private var versionRange: String {
        guard let maximum = context.maximumVersion else { return "\(context.minimumVersion) and newer" }
        return "\(context.minimumVersion) to \(maximum)"
    }

    /// Sends close_notify (when the connection is still sound) and closes the socket.
    func close() {
        guard !isClosed else { return }
        if !failed && SSL_is_init_finished(ssl) == 1 {
            OpenSSLError.clear()
            _ = SSL_shutdown(ssl)
            _ = OpenSSLError.drain()
            try? flush(until: Deadline(.seconds(1)), operation: "close")
        }
        isClosed = true
        System.close(fd)
    }
}
