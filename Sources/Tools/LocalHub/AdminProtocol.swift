#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import JSON

/// One request on LocalHub's admin socket (`{state}/admin.sock`, mode 0600, local only).
///
/// ## Wire format
/// Newline-delimited JSON: each request is one JSON object on one line; each answer is one
/// line `{"ok":true,"result":…}` or `{"ok":false,"error":"…"}`. `tail` answers
/// `{"ok":true,"result":"tailing"}` and then streams one `{"telemetry":{…record…}}` line per
/// message until the client closes. Several requests may share a connection; answers come
/// in the order the requests finish (a `method` waits for the device).
///
/// | `op` | fields | result |
/// | --- | --- | --- |
/// | `device.add` | `deviceId`, `thumbprint` [+ `secondaryThumbprint`] or `caPEM` | the device |
/// | `device.list` | | `[{"deviceId","authentication","connected"}]` |
/// | `twin.show` | `deviceId` | `{"desired":{…,"$version"},"reported":{…,"$version"}}` |
/// | `twin.set` | `deviceId`, `patch` (object) | `{"$version":n}` |
/// | `method` | `deviceId`, `method`, `payload`, `timeoutSeconds` | `{"status":n,"payload":…}` |
/// | `c2d` | `deviceId`, `payload` (text), `properties` | `{"delivered":bool,"queued","locked","completed","deadLettered","expired"}` |
/// | `c2d.status` | `deviceId` | the counts of `c2d` and `messages`: `[{"id","deliveries","locked","expires","bytes"}]` |
/// | `liveness` | | `[{"deviceId","connected","silentMilliseconds","periodMilliseconds"}]` (null: not connected / not reported) |
/// | `stats` | | `{"telemetry":n,"connected":n,"devices":n,"c2d":{counts as in c2d}}` (since start) |
/// | `tail` | `deviceId` (optional) | streamed records |
/// | `dps.add-group` | `name`, `caPEM`, `enabled` (default true) | the enrollment |
/// | `dps.add-device` | `name` (registration id), `certificatePEM`, `deviceId` (optional), `enabled` | the enrollment |
/// | `dps.list` | | `[{"kind","name","subject","deviceId","enabled"}]` |
/// | `dps.remove`, `dps.enable`, `dps.disable` | `name` | the enrollment (remove: `null`) |
/// | `dps.registrations` | | `[{"registrationId","deviceId","assignedHub","issuedThumbprint","at"}]` |
public struct AdminRequest: Sendable, Codable, Hashable {
    public var op: String
    public var deviceId: String?
    public var thumbprint: String?
    public var secondaryThumbprint: String?
    public var caPEM: String?
    public var patch: JSONValue?
    public var method: String?
    public var payload: JSONValue?
    public var timeoutSeconds: Double?
    public var properties: [String: String]?
    /// DPS: an enrollment's name (a group's name or a registration id).
    public var name: String?
    public var certificatePEM: String?
    public var enabled: Bool?

    public init(op: String, deviceId: String? = nil) {
        self.op = op
        self.deviceId = deviceId
    }

    public func line() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return ((try? Array(encoder.encode(self))) ?? Array("{}".utf8)) + [UInt8(ascii: "\n")]
    }
}

/// One answer line on the admin socket.
public struct AdminResponse: Sendable, Codable, Hashable {
    public var ok: Bool?
    public var result: JSONValue?
    public var error: String?
    public var telemetry: TelemetryRecord?

    public static func success(_ result: JSONValue) -> AdminResponse { AdminResponse(ok: true, result: result) }
    public static func failure(_ error: String) -> AdminResponse { AdminResponse(ok: false, error: error) }

    public func line() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return ((try? Array(encoder.encode(self))) ?? Array(#"{"ok":false,"error":"unencodable answer"}"#.utf8))
            + [UInt8(ascii: "\n")]
    }
}
