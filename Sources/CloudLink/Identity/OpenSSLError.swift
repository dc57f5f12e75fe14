import COpenSSL

/// One entry of OpenSSL's thread-local error queue, as `ERR_get_error_all` reports it.
///
/// Contract: whoever sees an OpenSSL call fail calls ``OpenSSLError/drain()`` at once, on the
/// same thread, and puts the list into the error it throws (after
/// swift-nio-ssl's `buildErrorStack`). A stale queue would otherwise be blamed on the next call.
public struct OpenSSLError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The packed code (`ERR_get_error`); `error:0A000086:...` shows it in hex.
    public var code: UInt
    /// The library that raised it (`SSL routines`, `PEM routines`, `system library`).
    public var library: String
    /// The reason text (`certificate verify failed`, `no start line`).
    public var reason: String
    /// `ERR_GET_LIB(code)` / `ERR_GET_REASON(code)`: for matching a failure without parsing text.
    public var libraryCode: Int32
    public var reasonCode: Int32
    /// Extra data OpenSSL attached (`Expecting: ANY PRIVATE KEY`, a file name), if any.
    public var data: String?

    public init(code: UInt, library: String, reason: String, libraryCode: Int32, reasonCode: Int32,
                data: String? = nil) {
        self.code = code
        self.library = library
        self.reason = reason
        self.libraryCode = libraryCode
        self.reasonCode = reasonCode
        self.data = data
    }

    /// `error:0A000086:SSL routines::certificate verify failed (data)`: OpenSSL's own format, so
    /// the text can be searched for as it is.
    public var description: String {
        var text = "error:\(hex(code)):\(library)::\(reason)"
        if let data, !data.isEmpty { text += " (\(data))" }
        return text
    }

    /// Empties the calling thread's OpenSSL error queue, oldest entry first.
    public static func drain() -> [OpenSSLError] {
        var errors: [OpenSSLError] = []
        while true {
            var data: UnsafePointer<CChar>?
            var flags: Int32 = 0
            let code = ERR_get_error_all(nil, nil, nil, &data, &flags)
            if code == 0 { return errors }
            let library = ERR_lib_error_string(code).map { String(cString: $0) } ?? "lib \(ERR_GET_LIB(code))"
            let reason = ERR_reason_error_string(code).map { String(cString: $0) } ?? "reason \(ERR_GET_REASON(code))"
            var extra: String?
            if let data, (flags & ERR_TXT_STRING) != 0 { extra = String(cString: data) }
            errors.append(OpenSSLError(code: code, library: library, reason: reason,
                                       libraryCode: ERR_GET_LIB(code), reasonCode: ERR_GET_REASON(code),
                                       data: extra))
        }
    }

    /// Discards whatever earlier calls left, before a call whose failure will be drained.
    public static func clear() { ERR_clear_error() }
}

extension [OpenSSLError] {
    /// `; OpenSSL: a; b` or nothing: the tail every error message appends.
    public var summary: String {
        isEmpty ? "" : "; OpenSSL: " + map(\.description).joined(separator: "; ")
    }

    /// Whether any entry has this library and reason code (`ERR_LIB_SSL`, `SSL_R_...`).
    public func contains(library: Int32, reason: Int32) -> Bool {
        contains { $0.libraryCode == library && $0.reasonCode == reason }
    }
}

private func hex(_ value: UInt) -> String {
    let digits = String(value, radix: 16, uppercase: true)
    return String(repeating: "0", count: max(0, 8 - digits.count)) + digits
}
