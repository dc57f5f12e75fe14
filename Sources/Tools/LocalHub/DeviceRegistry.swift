#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Identity
import IoTHub
import MQTT

/// How a registered device proves who it is (IoT Hub's X.509 device authentication).
public enum DeviceAuthentication: Sendable, Hashable, Codable {
    /// "selfSigned": the presented leaf's SHA-1 or SHA-256 thumbprint equals one of these
    /// (upper-case hex, no separators). The certificate's CN is not checked.
    case thumbprint(primary: String, secondary: String?)
    /// "certificateAuthority": the chain verifies to a registered CA and the leaf's CN is the device id.
    case certificateAuthority

    /// IoT Hub's `authenticationType` name.
    public var typeName: String {
        switch self {
        case .thumbprint: "selfSigned"
        case .certificateAuthority: "certificateAuthority"
        }
    }

    /// `AB:cd 12…` → `ABCD12…`, checked to be 40 or 64 hex digits.
    public static func normalizedThumbprint(_ text: String) throws(HubError) -> String {
        let cleaned = String(text.filter { $0 != ":" && $0 != " " }).uppercased()
        guard cleaned.count == 40 || cleaned.count == 64, cleaned.allSatisfy(\.isHexDigit) else {
            throw .invalidThumbprint(text)
        }
        return cleaned
    }
}

/// A registered device.
public struct DeviceRecord: Sendable, Hashable, Codable {
    public var deviceID: String
    public var authentication: DeviceAuthentication

    public init(deviceID: String, authentication: DeviceAuthentication) {
        self.deviceID = deviceID
        self.authentication = authentication
    }
}

/// A CA certificate registered for CA-signed devices (stored as PEM).
public struct RegisteredCA: Sendable, Hashable {
    public var subject: String
    public var sha256Thumbprint: String
    public var pem: String
}

/// Decides a CONNECT the way IoT Hub does for X.509 devices (IoT Hub's MQTT support: CONNECT; IoT Hub's X.509 device authentication): who the client
/// id names, whether that device is registered, and whether the presented certificate is the
/// registered one (thumbprint) or chains to a registered CA with CN = device id.
///
/// No I/O except through `caBundle` (a PEM file of every registered CA, read per decision by
/// OpenSSL's verifier); the time is given.
struct DeviceAuthenticator {
    var devices: [String: DeviceAuthentication]
    var caBundle: String?
    /// The hub name a user name must carry (nil: any). A device behind an IoT Edge gateway still
    /// names its IoT hub, not the gateway.
    var hubName: String? = nil

    func decide(clientID: String, username: String?, chain: [X509Certificate], now: Date)
        -> HubSession.AuthenticationDecision {
        guard let leaf = chain.first else {
            return .refused(.notAuthorized, reason: "no client certificate was presented")
        }
        if let username {
            guard let parsed = IoTHubTopic.parseUsername(username) else {
                return .refused(.badUsernameOrPassword, reason: "user name '\(username)' is not "
                    + "'{hub}/{deviceId}/?api-version=…' (IoT Hub's MQTT support: CONNECT)")
            }
            if let hubName, parsed.hostName.lowercased() != hubName.lowercased() {
                return .refused(.badUsernameOrPassword, reason: "user name '\(username)' names hub '\(parsed.hostName)' "
                    + "but this is '\(hubName)'; behind an IoT Edge gateway the user name keeps the IoT hub's name "
                    + "(fieldagent: --hub \(hubName) --gateway GATEWAY)")
            }
            if parsed.deviceID != clientID || parsed.moduleID != nil {
                return .refused(.badUsernameOrPassword, reason: "user name '\(username)' names device "
                    + "'\(parsed.deviceID)\(parsed.moduleID.map { "/\($0)" } ?? "")' but the client id is '\(clientID)'")
            }
        } else {
            return .refused(.badUsernameOrPassword, reason: "no user name; IoT Hub expects "
                + "'{hub}/\(clientID)/?api-version=\(IoTHubLimits.apiVersion)' (IoT Hub's MQTT support: CONNECT)")
        }
        guard let registration = devices[clientID] else {
            return .refused(.notAuthorized, reason: "device '\(clientID)' is not registered (404001 DeviceNotFound); "
                + "register it: localhub device add \(clientID) --thumbprint \(leaf.sha256Thumbprint) "
                + "(or --ca ROOT.pem for a CA-signed certificate)")
        }
        if now < leaf.notBefore || now > leaf.notAfter {
            return .refused(.notAuthorized, reason: "the certificate of '\(clientID)' is valid from "
                + "\(UTC.text(leaf.notBefore)) to \(UTC.text(leaf.notAfter)), not now (\(UTC.text(now))) (401003)")
        }
        switch registration {
        case let .thumbprint(primary, secondary):
            let sha1 = leaf.sha1Thumbprint
            let sha256 = leaf.sha256Thumbprint
            let registered = [primary, secondary].compactMap { $0 }
            if registered.contains(sha1) || registered.contains(sha256) { return .accepted(deviceID: clientID) }
            // IoT Hub's own wording for this failure (IoT Hub's X.509 device authentication).
            return .refused(.notAuthorized, reason: "Thumbprint does not match configuration: Thumbprint: "
                + "SHA1Hash=\(sha1), SHA2Hash=\(sha256); Configuration: PrimaryThumbprint=\(primary), "
                + "SecondaryThumbprint=\(secondary ?? "null") (401003)")
        case .certificateAuthority:
            guard leaf.commonName == clientID else {
                return .refused(.notAuthorized, reason: "the certificate's CN is '\(leaf.commonName ?? "(none)")', "
                    + "not the device id '\(clientID)'; a CA-signed device certificate must have CN = device id (IoT Hub's X.509 device authentication)")
            }
            guard let caBundle else {
                return .refused(.notAuthorized, reason: "'\(clientID)' is registered as CA-signed but no CA is "
                    + "registered; add one: localhub device add \(clientID) --ca ROOT.pem")
            }
            do {
                try ChainVerifier.verify(chain: chain, trust: .file(caBundle), purpose: .clientAuthentication, now: now)
                return .accepted(deviceID: clientID)
            } catch {
                return .refused(.notAuthorized, reason: "the certificate chain of '\(clientID)' does not verify "
                    + "against the registered CAs: \(error)")
            }
        }
    }
}
