/// Reads one HTTP/1.1 request from the bytes received so far. Pure: bytes in, a verdict out.
///
/// ## Contract
/// - Only what the agent's pages need: a request line, headers, and a body of exactly
///   `Content-Length` bytes. `Transfer-Encoding` (chunked bodies) is refused with 501.
/// - Bounded: a head longer than ``Limits/maximumHead`` is refused with 431, a body longer than
///   ``Limits/maximumBody`` with 413, before either is buffered in full.
/// - A malformed request line or header is refused with 400, an HTTP version other than 1.0/1.1
///   with 505.
public struct HTTPRequestParser: Sendable {
    public struct Limits: Sendable, Equatable {
        public var maximumHead: Int
        public var maximumBody: Int
        public init(maximumHead: Int = 8 * 1024, maximumBody: Int = 16 * 1024) {
            self.maximumHead = maximumHead
            self.maximumBody = maximumBody
        }
    }

    public enum Verdict: Sendable, Equatable {
        /// Not a whole request yet.
        case needMore
        case request(HTTPRequest)
        /// Refuse with this status (and close).
        case refuse(Int, String)
    }

    public let limits: Limits

    public init(limits: Limits = Limits()) { self.limits = limits }

    public func parse(_ bytes: [UInt8]) -> Verdict {
        guard let headEnd = Self.find([13, 10, 13, 10], in: bytes, limit: limits.maximumHead + 4) else {
            return bytes.count > limits.maximumHead ? .refuse(431, "the request head is longer than \(limits.maximumHead) bytes") : .needMore
        }
        guard headEnd <= limits.maximumHead else {
            return .refuse(431, "the request head is longer than \(limits.maximumHead) bytes")
        }
        guard let head = String(validating: bytes[..<headEnd], as: UTF8.self) else { return .refuse(400, "the request head is not UTF-8") }
        var lines = head.split(separator: "\r\n", omittingEmptySubsequences: false)
        guard !lines.isEmpty else { return .refuse(400, "no request line") }
        let requestLine = lines.removeFirst().split(separator: " ", omittingEmptySubsequences: false)
        guard requestLine.count == 3, !requestLine[0].isEmpty, requestLine[1].hasPrefix("/") else {
            return .refuse(400, "malformed request line")
        }
        guard requestLine[2] == "HTTP/1.1" || requestLine[2] == "HTTP/1.0" else {
            return .refuse(505, "only HTTP/1.1 is served")
        }
        var headers: [(name: String, value: String)] = []
        for line in lines {
            guard let colon = line.firstIndex(of: ":"), colon != line.startIndex else { return .refuse(400, "malformed header line") }
            let name = line[..<colon]
            guard !name.contains(where: { $0 == " " || $0 == "\t" }) else { return .refuse(400, "malformed header name") }
            let value = line[line.index(after: colon)...].trimmingPrefix(while: { $0 == " " || $0 == "\t" })
            headers.append((name.lowercased(), String(value.reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())))
        }
        if headers.contains(where: { $0.name == "transfer-encoding" }) {
            return .refuse(501, "chunked request bodies are not served; send Content-Length")
        }
        let lengths = headers.filter { $0.name == "content-length" }.map(\.value)
        var length = 0
        if let first = lengths.first {
            guard lengths.allSatisfy({ $0 == first }), let value = Int(first), value >= 0, first.allSatisfy(\.isASCII) else {
                return .refuse(400, "bad Content-Length")
            }
            length = value
        }
        guard length <= limits.maximumBody else { return .refuse(413, "the body is longer than \(limits.maximumBody) bytes") }
        let bodyStart = headEnd + 4
        guard bytes.count >= bodyStart + length else { return .needMore }
        let target = requestLine[1]
        let path = target.prefix { $0 != "?" }
        let query = target.dropFirst(path.count + 1)
        return .request(HTTPRequest(method: String(requestLine[0]), path: String(path), query: String(query), headers: headers,
                                    body: Array(bytes[bodyStart ..< bodyStart + length])))
    }

    /// The index of the first `pattern` in `bytes[..<limit]`.
    static func find(_ pattern: [UInt8], in bytes: [UInt8], limit: Int) -> Int? {
        let end = min(bytes.count, limit) - pattern.count
        guard end >= 0 else { return nil }
        var i = 0
        while i <= end {
            if bytes[i] == pattern[0], bytes[i ..< i + pattern.count].elementsEqual(pattern) { return i }
            i += 1
        }
        return nil
    }
}
