#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Identity
import Logging
import Synchronization
import SystemCalls

/// The state LocalHub's DPS connections share: enrollments and registrations (persisted in
/// `STATE-DIR/dps.json`, written atomically), the issuing CA, and the hub it assigns to.
///
/// A registration (``register(chain:body:)``): the enrollment that matches
/// (``DpsEnrollmentMatcher``), then, with a CSR, a certificate signed by the issuing CA; then the
/// device is registered at LocalHub's own hub so it accepts that certificate: an issued or an
/// individually enrolled certificate by its SHA-256 thumbprint; a group's device as CA-signed
/// with the group's CA registered at the hub (a self-signed root whose CN = device id), else by
/// the leaf's thumbprint (the hub's chain check wants a root).
final class DpsService: Sendable {
    struct State: Codable {
        var enrollments: [DpsEnrollment] = []
        var registrations: [DpsRegistration] = []
    }

    let configuration: DpsConfiguration
    let core: HubCore
    let assignedHubName: String
    let issuer: CertificateAuthority?
    let path: String
    let state: Mutex<State>

    init(configuration: DpsConfiguration, core: HubCore, stateDirectory: String, assignedHubName: String) throws(HubError) {
        self.configuration = configuration
        self.core = core
        self.assignedHubName = assignedHubName
        path = stateDirectory + "/dps.json"
        switch (configuration.issuingCertificateFile, configuration.issuingKeyFile) {
        case let (certificate?, key?):
            do { issuer = try CertificateAuthority(certificateFile: certificate, keyFile: key) } catch {
                throw .invalidArgument("DPS issuing CA: \(error)")
            }
        case (nil, nil):
            issuer = nil
        default:
            throw .invalidArgument("give both --dps-issuing-ca and --dps-issuing-key, or neither")
        }
        var loaded = State()
        if POSIX.exists(path) {
            do {
                let bytes = try POSIX.readFile(path)
                loaded = try Self.decoder.decode(State.self, from: Data(bytes))
            } catch {
                throw .storage(operation: "reading the DPS enrollments", path: path, reason: "\(error); move the file "
                    + "aside to start with no enrollments")
            }
        }
        state = Mutex(loaded)
    }

    static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }

    var logger: Logger { core.logger }

    // MARK: Enrollments

    func add(_ enrollment: DpsEnrollment) throws(HubError) {
        let what = enrollment.kind == .group ? "enrollment group" : "individual enrollment"
        let certificates: [X509Certificate]
        do {
            certificates = try X509Certificate.parseChain(pem: Array(enrollment.certificatePEM.utf8), source: "\(what) \(enrollment.name)")
        } catch {
            throw .invalidArgument("\(what) '\(enrollment.name)': \(error)")
        }
        if enrollment.kind == .group, !certificates[0].isCertificateAuthority {
            throw .certificateAuthority("\(certificates[0].subject) is not a CA certificate; an enrollment group takes the "
                + "root or intermediate CA that issued the devices' certificates (an individual device: dps add-device)")
        }
        if enrollment.kind == .individual, !DpsProtocol.validRegistrationID(enrollment.name) {
            throw .invalidArgument("registration id '\(enrollment.name)' is not 1…128 letters, digits and - . _ :")
        }
        guard !enrollment.name.isEmpty else { throw .invalidArgument("an enrollment needs a name") }
        try update { state throws(HubError) in
            state.enrollments.removeAll { $0.name.lowercased() == enrollment.name.lowercased() }
            state.enrollments.append(enrollment)
        }
        logger.notice("DPS \(what) \(enrollment.name) added (\(certificates[0].subject), \(enrollment.enabled ? "enabled" : "disabled"))")
    }

    func remove(_ name: String) throws(HubError) {
        try update { state throws(HubError) in
            let before = state.enrollments.count
            state.enrollments.removeAll { $0.name.lowercased() == name.lowercased() }
            if state.enrollments.count == before { throw Self.unknown(name) }
        }
    }

    func setEnabled(_ name: String, _ enabled: Bool) throws(HubError) {
        try update { state throws(HubError) in
            guard let index = state.enrollments.firstIndex(where: { $0.name.lowercased() == name.lowercased() }) else {
                throw Self.unknown(name)
            }
            state.enrollments[index].enabled = enabled
        }
    }

    static func unknown(_ name: String) -> HubError {
        .invalidArgument("no DPS enrollment is named '\(name)'; list them: localhub dps list")
    }

    func enrollments() -> [DpsEnrollment] { state.withLock { $0.enrollments } }
    func registrations() -> [DpsRegistration] { state.withLock { $0.registrations } }

    /// Changes the state and writes dps.json (atomically) before the change is visible.
    func update(_ change: (inout State) throws(HubError) -> Void) throws(HubError) {
        try state.withLock { (current: inout State) throws(HubError) in
            var next = current
            try change(&next)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            encoder.dateEncodingStrategy = .iso8601
            do {
                try POSIX.writeFileAtomically(path, Array(try encoder.encode(next)), mode: 0o600)
            } catch {
                throw .storage(operation: "writing the DPS enrollments", path: path, reason: "\(error)")
            }
            current = next
        }
    }

    // MARK: Registration

    /// A device's register request with the chain it presented: matched, issued, assigned.
    func register(chain: [X509Certificate], body: DpsProtocol.RegisterBody) -> Result<DpsRegistrationState, DpsError> {
        let now = core.now()
        let registrationID = body.registrationID
        let matcher = DpsEnrollmentMatcher(enrollments: enrollments())
        let match: DpsEnrollmentMatcher.Match
        switch matcher.match(registrationID: registrationID, chain: chain, now: now) {
        case .failure(let error): return .failure(error)
        case .success(let found): match = found
        }
        var deviceID = registrationID
        if case .individual(let enrollment) = match, let named = enrollment.deviceID { deviceID = named }
        var issuedChain: [String]?
        var issuedThumbprint: String?
        let authentication: DeviceAuthentication
        if let csr = body.csr {
            let issued: X509Certificate
            switch issue(csr: csr, registrationID: registrationID, now: now) {
            case .failure(let error): return .failure(error)
            case .success(let (certificate, authority)):
                issued = certificate
                issuedChain = [Data(certificate.derBytes).base64EncodedString(), Data(authority.derBytes).base64EncodedString()]
            }
            issuedThumbprint = issued.sha256Thumbprint
            // IoT Hub trusts every certificate the issuing CA signed until it expires, so a renewal
            // (a second registration with a new CSR) leaves the previous one working: it stays
            // as the secondary thumbprint until the next renewal replaces it.
            let previous = registrations().first { $0.registrationId.lowercased() == registrationID.lowercased() }?.issuedThumbprint
            authentication = .thumbprint(primary: issued.sha256Thumbprint, secondary: previous)
        } else {
            switch match {
            case .individual:
                authentication = .thumbprint(primary: chain[0].sha256Thumbprint, secondary: nil)
            case .group(_, let authority):
                if authority.isSelfIssued, chain[0].commonName == deviceID {
                    do {
                        if !core.certificateAuthorities().contains(where: { $0.sha256Thumbprint == authority.sha256Thumbprint }) {
                            _ = try core.registerCertificateAuthorities(pem: try authority.pem(), source: "DPS enrollment group")
                        }
                    } catch {
                        return .failure(DpsError(errorCode: 500_000, message: "registering the group's CA at the hub failed: \(error)"))
                    }
                    authentication = .certificateAuthority
                } else {
                    authentication = .thumbprint(primary: chain[0].sha256Thumbprint, secondary: nil)
                }
            }
        }
        do { try core.register(DeviceRecord(deviceID: deviceID, authentication: authentication)) } catch {
            return .failure(.badRequest("the hub refused device id '\(deviceID)': \(error)"))
        }
        var created = now
        do {
            try update { state throws(HubError) in
                if let old = state.registrations.first(where: { $0.registrationId.lowercased() == registrationID.lowercased() }) {
                    created = old.created
                }
                state.registrations.removeAll { $0.registrationId.lowercased() == registrationID.lowercased() }
                state.registrations.append(DpsRegistration(registrationId: registrationID, deviceId: deviceID,
                                                           assignedHub: assignedHubName, issuedThumbprint: issuedThumbprint,
                                                           at: now, created: created))
            }
        } catch {
            return .failure(DpsError(errorCode: 500_000, message: "\(error)"))
        }
        let how = issuedThumbprint.map { ", issued a certificate (SHA-256 \($0))" } ?? ""
        logger.notice("DPS assigned \(registrationID) to \(assignedHubName) as \(deviceID)\(how)",
                      metadata: ["device": "\(deviceID)"])
        return .success(DpsRegistrationState(registrationID: registrationID, deviceID: deviceID, assignedHub: assignedHubName,
                                             created: created, lastUpdated: now,
                                             etag: String(UInt64.random(in: 1...UInt64.max), radix: 16),
                                             issuedCertificateChain: issuedChain))
    }

    /// Verifies the CSR (signature, EC P-384, CN = registration id) and signs it.
    func issue(csr: [UInt8], registrationID: String, now: Date) -> Result<(X509Certificate, X509Certificate), DpsError> {
        guard let issuer else {
            return .failure(.badRequest("this DPS has no issuing CA (localhub serve --dps-issuing-ca/--dps-issuing-key)"))
        }
        let request: SigningRequest
        do { request = try SigningRequest(der: csr) } catch {
            return .failure(.badRequest("the CSR cannot be used: \(error); send a DER PKCS#10 request signed by its key"))
        }
        guard request.isP384 else {
            return .failure(.badRequest("CSR key must be EC P-384 (this one is \(request.keyType)); make the key with "
                + "openssl ecparam -name secp384r1 -genkey"))
        }
        guard let commonName = request.commonName, commonName.lowercased() == registrationID.lowercased() else {
            return .failure(.badRequest("the CSR's subject CN is '\(request.commonName ?? "(none)")', not the registration id "
                + "'\(registrationID)'; request CN=\(registrationID)"))
        }
        do {
            let certificate = try issuer.issue(request: request, validity: configuration.certificateValidity, now: now)
            return .success((certificate, issuer.certificate))
        } catch {
            return .failure(DpsError(errorCode: 500_000, message: "signing the CSR failed: \(error)"))
        }
    }

    /// A new opaque operation id.
    func operationID(registrationID: String) -> String {
        "4.\(String(UInt64.random(in: 1...UInt64.max), radix: 16)).\(registrationID.lowercased())"
    }
}
