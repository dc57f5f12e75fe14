#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import IoTHub
import JSON

/// The Device Provisioning Service's MQTT device protocol (X.509 attestation), as Microsoft
/// documents it and its device SDKs speak it: user name, topics, request and response bodies,
/// error codes. Pure: text in, text out.
public enum DpsProtocol {
    /// The API versions LocalHub answers: the plain one, and the preview with certificate issuance (a CSR).
    public static let apiVersion = "2019-03-31"
    public static let issuanceAPIVersion = "2025-07-01-preview"
    /// What a device subscribes to before it registers.
    public static let responseFilter = "$dps/registrations/res/#"
    static let registerPrefix = "$dps/registrations/PUT/iotdps-register/?"
    static let pollPrefix = "$dps/registrations/GET/iotdps-get-operationstatus/?"

    /// `{idScope}/registrations/{registrationId}/api-version=2019-03-31` (the SDKs may add
    /// `&ClientVersion=…`; a `?` before `api-version`, as IoT Hub's user name has, is tolerated).
    public struct Username: Sendable, Hashable {
        public var idScope: String
        public var registrationID: String
        public var apiVersion: String
    }

    /// Parses a CONNECT user name; the error says what is wrong and what DPS expects.
    public static func parseUsername(_ text: String) -> Result<Username, DpsError> {
        let expected = "'{idScope}/registrations/{registrationId}/api-version=\(apiVersion)'"
        let parts = text.split(separator: "/", maxSplits: 3, omittingEmptySubsequences: false)
        guard parts.count == 4, parts[1] == "registrations", !parts[0].isEmpty, !parts[2].isEmpty else {
            return .failure(.badRequest("user name '\(text)' is not \(expected) (DPS MQTT: CONNECT)"))
        }
        var query = parts[3]
        if query.hasPrefix("?") { query = query.dropFirst() }
        let version = query.split(separator: "&").first { $0.hasPrefix("api-version=") }?.dropFirst("api-version=".count)
        guard let version, !version.isEmpty else {
            return .failure(.badRequest("user name '\(text)' has no api-version; expected \(expected)"))
        }
        return .success(Username(idScope: String(parts[0]), registrationID: String(parts[2]), apiVersion: String(version)))
    }

    /// DPS's rule: up to 128 characters of letters, digits and `- . _ :` (case-insensitive).
    public static func validRegistrationID(_ id: String) -> Bool {
        !id.isEmpty && id.utf8.count <= 128
            && id.unicodeScalars.allSatisfy { ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) || "-._:".unicodeScalars.contains($0) }
    }

    /// A device's PUBLISH, by topic.
    public enum Request: Sendable, Hashable {
        case register(requestID: String)
        case poll(requestID: String, operationID: String)
    }

    /// `$dps/registrations/PUT/iotdps-register/?$rid={rid}` or
    /// `$dps/registrations/GET/iotdps-get-operationstatus/?$rid={rid}&operationId={id}`.
    public static func parseRequest(topic: String) -> Request? {
        let query: Substring
        let isRegister: Bool
        if topic.hasPrefix(registerPrefix) {
            query = topic.dropFirst(registerPrefix.count)
            isRegister = true
        } else if topic.hasPrefix(pollPrefix) {
            query = topic.dropFirst(pollPrefix.count)
            isRegister = false
        } else {
            return nil
        }
        var fields: [String: String] = [:]
        for pair in query.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard kv.count == 2 else { continue }
            fields[String(kv[0])] = (try? IoTHubPercentEncoding.decode(kv[1])) ?? String(kv[1])
        }
        guard let rid = fields["$rid"], !rid.isEmpty else { return nil }
        if isRegister { return .register(requestID: rid) }
        guard let operation = fields["operationId"], !operation.isEmpty else { return nil }
        return .poll(requestID: rid, operationID: operation)
    }

    /// `$dps/registrations/res/{status}/?$rid={rid}[&retry-after={s}]`.
    public static func responseTopic(status: Int, requestID: String, retryAfter: Int? = nil) -> String {
        "$dps/registrations/res/\(status)/?$rid=\(requestID)" + (retryAfter.map { "&retry-after=\($0)" } ?? "")
    }

    /// A register request's body: `{"registrationId":…,"payload":…,"csr":"<base64 DER>"}`.
    public struct RegisterBody: Sendable, Hashable {
        public var registrationID: String
        public var payload: JSONValue?
        /// The CSR, base64-decoded (DER PKCS#10), when one was sent.
        public var csr: [UInt8]?
    }

    public static func parseRegisterBody(_ bytes: [UInt8]) -> Result<RegisterBody, DpsError> {
        let value: JSONValue
        do { value = try JSONValue.parse(bytes) } catch {
            return .failure(.badRequest("the register body is not JSON (\(error)); send "
                + #"{"registrationId":"ID"} (optionally "payload" and "csr")"#))
        }
        guard case .string(let id)? = value["registrationId"] else {
            return .failure(.badRequest(#"the register body has no "registrationId" string; send {"registrationId":"ID"}"#))
        }
        var body = RegisterBody(registrationID: id, payload: value["payload"], csr: nil)
        switch value["csr"] {
        case nil, .null?:
            break
        case .string(let text)?:
            guard let der = Data(base64Encoded: text) else {
                return .failure(.badRequest(#"the "csr" is not base64: send the DER PKCS#10 request base64-encoded, "#
                    + "without PEM armour or line breaks"))
            }
            body.csr = Array(der)
        case .some(let other):
            return .failure(.badRequest(#"the "csr" is \#(other.kind), not a base64 string"#))
        }
        return .success(body)
    }

    /// The 202 body: `{"operationId":…,"status":"assigning"}`.
    static func assigningBody(operationID: String) -> [UInt8] {
        JSONValue.object(JSONObject(uniqueKeysWithValues: [("operationId", .string(operationID)),
                                                           ("status", .string("assigning"))])).encoded(sortingKeys: false)
    }

    /// The final 200 body of an assignment.
    static func assignedBody(operationID: String, state: DpsRegistrationState) -> [UInt8] {
        JSONValue.object(JSONObject(uniqueKeysWithValues: [("operationId", .string(operationID)),
                                                           ("status", .string("assigned")),
                                                           ("registrationState", state.json)])).encoded(sortingKeys: false)
    }

    static func timestamp(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }
}

/// What DPS tells a device it was assigned (`registrationState`).
public struct DpsRegistrationState: Sendable, Hashable {
    public var registrationID: String
    public var deviceID: String
    public var assignedHub: String
    public var created: Date
    public var lastUpdated: Date
    public var etag: String
    /// Base64 DER: the issued leaf, then the issuing CA (only when a CSR was signed).
    public var issuedCertificateChain: [String]?

    var json: JSONValue {
        var members: [(String, JSONValue)] = [
            ("x509", .object([:])), ("registrationId", .string(registrationID)),
            ("createdDateTimeUtc", .string(DpsProtocol.timestamp(created))), ("assignedHub", .string(assignedHub)),
            ("deviceId", .string(deviceID)), ("status", .string("assigned")), ("substatus", .string("initialAssignment")),
            ("lastUpdatedDateTimeUtc", .string(DpsProtocol.timestamp(lastUpdated))), ("etag", .string(etag)),
        ]
        if let issuedCertificateChain { members.append(("issuedCertificateChain", .array(issuedCertificateChain.map(JSONValue.string)))) }
        return .object(JSONObject(uniqueKeysWithValues: members))
    }
}

/// A DPS error answer: the HTTP status is `errorCode / 1000`; the message names the problem and the fix.
public struct DpsError: Error, Sendable, Hashable, CustomStringConvertible {
    public var errorCode: Int
    public var message: String
    /// For 429: how long the device should wait.
    public var retryAfter: Int?

    public init(errorCode: Int, message: String, retryAfter: Int? = nil) {
        self.errorCode = errorCode
        self.message = message
        self.retryAfter = retryAfter
    }

    public var status: Int { errorCode / 1000 }
    public var description: String { "\(status) (\(errorCode)): \(message)" }

    /// 400004: bad JSON, CN ≠ registration id, a bad CSR.
    public static func badRequest(_ message: String) -> DpsError { DpsError(errorCode: 400_004, message: message) }
    /// 401002: no enrollment matches, or the certificate is not trusted.
    public static func unauthorized(_ message: String) -> DpsError { DpsError(errorCode: 401_002, message: message) }
    /// 403: the matching enrollment is disabled.
    public static func disabled(_ message: String) -> DpsError { DpsError(errorCode: 403_000, message: message) }
    /// 404: an operation id this connection never got.
    public static func notFound(_ message: String) -> DpsError { DpsError(errorCode: 404_000, message: message) }
    /// 429001: too many requests; retry after `seconds`.
    public static func throttled(_ message: String, retryAfter seconds: Int) -> DpsError {
        DpsError(errorCode: 429_001, message: message, retryAfter: seconds)
    }

    func body(trackingID: String, at: Date) -> [UInt8] {
        JSONValue.object(JSONObject(uniqueKeysWithValues: [
            ("errorCode", .integer(Int64(errorCode))), ("trackingId", .string(trackingID)),
            ("message", .string(message)), ("timestampUtc", .string(DpsProtocol.timestamp(at))),
        ])).encoded(sortingKeys: false)
    }
}
