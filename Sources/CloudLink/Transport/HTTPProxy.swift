import FoundationEssentials
import SystemCalls

/// An HTTP proxy that opens a tunnel with `CONNECT` (RFC 9110 §9.3.6), for plant networks where
/// only the proxy reaches the internet: `http://[user:password@]host:port`, with basic
/// authentication when a user is given.
///
/// The request and the reading of the answer are pure (``connectRequest(host:port:)``,
/// ``ResponseHead/parse(_:)``); ``TLSConnection`` does the I/O and then runs TLS inside the tunnel.
public struct HTTPProxy: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: UInt16
    public var user: String?
    public var password: String?

    /// The longest response head read from a proxy before it is refused.
    static let maximumResponseHead = 8 * 1024

    public init(host: String, port: UInt16, user: String? = nil, password: String? = nil) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
    }

    /// Parses `http://[user:password@]host:port` (user and password percent-encoded if they
    /// hold `:` or `@`); nil with the reason on failure.
    public static func parse(_ text: String) -> Result<HTTPProxy, ProxyURLError> {
        guard text.hasPrefix("http://") else { return .failure(ProxyURLError("expected http://[user:password@]host:port")) }
        var rest = Substring(text.dropFirst(7))
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        var user: String?
        var password: String?
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            rest = rest[rest.index(after: at)...]
            let parts = credentials.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            user = percentDecoded(parts[0])
            password = parts.count > 1 ? percentDecoded(parts[1]) : ""
        }
        guard let colon = rest.lastIndex(of: ":"), let port = UInt16(rest[rest.index(after: colon)...]), port > 0 else {
            return .failure(ProxyURLError("'\(text.prefix(80))' has no port: expected http://[user:password@]host:port"))
        }
        let host = rest[..<colon]
        guard !host.isEmpty, !host.contains("/") else { return .failure(ProxyURLError("'\(text.prefix(80))' has no host")) }
        return .success(HTTPProxy(host: String(host), port: port, user: user, password: password))
    }

    /// `%XX` escapes decoded (a `%` without two hex digits stays as it is).
    static func percentDecoded(_ text: Substring) -> String {
        var bytes: [UInt8] = []
        var utf8 = Array(text.utf8)[...]
        while let byte = utf8.popFirst() {
            if byte == UInt8(ascii: "%"), utf8.count >= 2,
               let value = UInt8(String(decoding: utf8.prefix(2), as: UTF8.self), radix: 16) {
                bytes.append(value)
                utf8 = utf8.dropFirst(2)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// `http://user@host:port`: the password is never shown.
    public var description: String { "http://\(user.map { "\($0)@" } ?? "")\(host):\(port)" }

    /// The `CONNECT host:port` request, with `Proxy-Authorization: Basic …` when a user is set.
    public func connectRequest(host target: String, port targetPort: UInt16) -> [UInt8] {
        let authority = target.contains(":") ? "[\(target)]:\(targetPort)" : "\(target):\(targetPort)"
        var text = "CONNECT \(authority) HTTP/1.1\r\nHost: \(authority)\r\n"
        if let user {
            let token = Data("\(user):\(password ?? "")".utf8).base64EncodedString()
            text += "Proxy-Authorization: Basic \(token)\r\n"
        }
        return Array((text + "\r\n").utf8)
    }

    /// The status line of the proxy's answer to CONNECT.
    public struct ResponseHead: Sendable, Equatable {
        public var status: Int
        public var reason: String
        /// Bytes of the head including the blank line; what follows belongs to the tunnel.
        public var length: Int

        public init(status: Int, reason: String, length: Int) {
            self.status = status
            self.reason = reason
            self.length = length
        }

        /// nil while the blank line that ends the head has not arrived; throws when what arrived
        /// is not an HTTP response.
        public static func parse(_ bytes: [UInt8]) throws(ProxyURLError) -> ResponseHead? {
            let end: [UInt8] = [13, 10, 13, 10]
            guard bytes.count >= 4, let index = (0...(bytes.count - 4)).first(where: { Array(bytes[$0..<$0 + 4]) == end }) else {
                return nil
            }
            let head = String(decoding: bytes[0..<index], as: UTF8.self)
            let statusLine = head.split(separator: "\r\n", maxSplits: 1).first ?? ""
            let parts = statusLine.split(separator: " ", maxSplits: 2)
            guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else {
                throw ProxyURLError("the proxy's answer is not HTTP: \(statusLine.prefix(80))")
            }
            return ResponseHead(status: status, reason: parts.count > 2 ? String(parts[2]) : "", length: index + 4)
        }
    }
}

/// Why a proxy setting or a proxy's answer cannot be used.
public struct ProxyURLError: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
