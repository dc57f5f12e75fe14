#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Identity

/// LocalHub's DPS endpoint: what ``LocalHubServer/Configuration/dps`` turns on.
public struct DpsConfiguration: Sendable {
    /// Its own TLS port on 127.0.0.1 (0 picks a free one, see ``LocalHubServer/dpsPort``).
    public var port: Int = 0
    /// DPS over WebSockets on TLS (`/$iothub/websocket`, subprotocol `mqtt`, as Azure DPS on 443)
    /// on this port too (0 picks a free one, see ``LocalHubServer/dpsWebSocketPort``); nil: none.
    public var webSocketPort: Int?
    public var idScope: String = "0ne00LOCAL1"
    /// With ``issuingKeyFile``: the CA that signs devices' CSRs (certificate issuance).
    public var issuingCertificateFile: String?
    public var issuingKeyFile: String?
    public var certificateValidity: Duration = .seconds(30 * 86_400)
    /// The `retry-after` of a 202.
    public var retryAfterSeconds: Int = 1
    public init() {}
}

/// An enrollment: a group (devices whose chain verifies up to its CA, root or intermediate) or
/// an individual device (its leaf certificate, matched by SHA-256 thumbprint).
public struct DpsEnrollment: Sendable, Hashable, Codable {
    public enum Kind: String, Sendable, Hashable, Codable {
        case group, individual
    }

    public var kind: Kind
    /// The group's name, or the individual enrollment's registration id.
    public var name: String
    /// The group's CA certificate, or the device's leaf certificate (PEM).
    public var certificatePEM: String
    /// For an individual enrollment: the device id at the hub (nil: the registration id).
    public var deviceID: String?
    public var enabled: Bool

    public init(kind: Kind, name: String, certificatePEM: String, deviceID: String? = nil, enabled: Bool = true) {
        self.kind = kind
        self.name = name
        self.certificatePEM = certificatePEM
        self.deviceID = deviceID
        self.enabled = enabled
    }
}

/// A device DPS assigned.
public struct DpsRegistration: Sendable, Hashable, Codable {
    public var registrationId: String
    public var deviceId: String
    public var assignedHub: String
    /// SHA-256 thumbprint of the certificate DPS issued (nil: none issued).
    public var issuedThumbprint: String?
    /// When it was (last) assigned.
    public var at: Date
    /// When it was first assigned.
    public var created: Date
}

/// Which enrollment a presented chain matches, decided as DPS does: an individual enrollment by
/// the leaf's SHA-256 thumbprint beats any group; a group matches when the chain verifies up to
/// its CA (an intermediate is enough). A disabled match is refused (403), no match is 401002.
/// No I/O: chain verification runs on certificates in memory at the given time.
struct DpsEnrollmentMatcher {
    enum Match {
        case individual(DpsEnrollment)
        case group(DpsEnrollment, authority: X509Certificate)
    }

    var enrollments: [DpsEnrollment]

    func match(registrationID: String, chain: [X509Certificate], now: Date) -> Result<Match, DpsError> {
        guard let leaf = chain.first else { return .failure(.unauthorized("no client certificate was presented")) }
        let thumbprint = leaf.sha256Thumbprint
        for enrollment in enrollments where enrollment.kind == .individual {
            guard let certificate = try? X509Certificate.parseChain(pem: Array(enrollment.certificatePEM.utf8),
                                                                    source: "enrollment \(enrollment.name)").first,
                  certificate.sha256Thumbprint == thumbprint else { continue }
            guard enrollment.name.lowercased() == registrationID.lowercased() else {
                return .failure(.unauthorized("the certificate is enrolled for registration id '\(enrollment.name)', not "
                    + "'\(registrationID)'; register as \(enrollment.name)"))
            }
            guard enrollment.enabled else {
                return .failure(.disabled("the individual enrollment '\(enrollment.name)' is disabled; enable it: "
                    + "localhub dps enable \(enrollment.name)"))
            }
            if now < leaf.notBefore || now > leaf.notAfter {
                return .failure(.unauthorized("the certificate of '\(registrationID)' is valid from \(UTC.text(leaf.notBefore)) "
                    + "to \(UTC.text(leaf.notAfter)), not now (\(UTC.text(now))); renew it"))
            }
            return .success(.individual(enrollment))
        }
        var disabled: DpsEnrollment?
        var lastFailure = "no enrollment group is configured"
        for enrollment in enrollments where enrollment.kind == .group {
            guard let authority = try? X509Certificate.parseChain(pem: Array(enrollment.certificatePEM.utf8),
                                                                  source: "group \(enrollment.name)").first else { continue }
            do {
                try ChainVerifier.verify(chain: chain, anchors: [authority], partialChain: true, now: now)
            } catch {
                lastFailure = "group '\(enrollment.name)' (\(authority.subject)): \(error)"
                continue
            }
            if enrollment.enabled { return .success(.group(enrollment, authority: authority)) }
            disabled = disabled ?? enrollment
        }
        if let disabled {
            return .failure(.disabled("the enrollment group '\(disabled.name)' that issued this certificate is disabled; "
                + "enable it: localhub dps enable \(disabled.name)"))
        }
        return .failure(.unauthorized("no enrollment matches '\(registrationID)' (SHA-256 \(thumbprint), issuer "
            + "\(leaf.issuer)): \(lastFailure); enroll it: localhub dps add-device \(registrationID) --cert DEVICE.pem, "
            + "or localhub dps add-group NAME --ca CA.pem"))
    }
}
