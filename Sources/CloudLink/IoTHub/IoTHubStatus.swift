/// An HTTP-like status from a twin response (A.9) or one a device returns for a method (A.11).
public struct IoTHubStatus: Sendable, Hashable, CustomStringConvertible {
    public var code: Int

    public init(_ code: Int) {
        self.code = code
    }

    public enum Classification: Sendable, Hashable {
        /// 2xx
        case success
        /// 429: throttled; back off (A.9, A.12).
        case throttled
        /// 5xx: server error; back off and retry (A.9, A.12).
        case serverError
        /// Other 4xx: the request is wrong (e.g. 400 malformed JSON); retrying will not help.
        case clientError
        /// Anything else (1xx, 3xx, out of range).
        case unexpected
    }

    public var classification: Classification {
        switch code {
        case 200..<300: .success
        case 429: .throttled
        case 500..<600: .serverError
        case 400..<500: .clientError
        default: .unexpected
        }
    }

    /// 429 and 5xx: retry later with exponential backoff (A.12, A.13). Narrower than this, the
    /// Embedded C SDK retries exactly 429 and 500 (``isRetriableByEmbeddedSDK``).
    public var shouldBackOff: Bool {
        classification == .throttled || classification == .serverError
    }

    /// `az_iot_status_retriable()`: exactly 429 and 500 (A.13 [SDK-C-COMMON]).
    public var isRetriableByEmbeddedSDK: Bool { code == 429 || code == 500 }

    public var description: String {
        switch classification {
        case .success: "\(code) success"
        case .throttled: "\(code) throttled (back off)"
        case .serverError: "\(code) server error (back off and retry)"
        case .clientError: "\(code) request rejected (fix the request; do not retry)"
        case .unexpected: "\(code) unexpected status"
        }
    }
}
