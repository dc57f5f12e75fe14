import FoundationEssentials

/// What `fieldagent certs show FILE` prints about one certificate.
public struct CertificateSummary: Sendable, Equatable {
    public var subject: String
    public var issuer: String
    public var commonName: String?
    public var serialNumber: String
    public var notBefore: Date
    public var notAfter: Date
    /// Whole days until notAfter at the report's `now`, rounded down; negative once expired.
    public var daysLeft: Int
    public var sha1Thumbprint: String
    public var sha256Thumbprint: String
    /// `EC P-256`, `RSA 2048`.
    public var keyType: String
    public var subjectAlternativeNames: String?
    public var isCertificateAuthority: Bool

    public init(_ certificate: X509Certificate, now: Date) {
        subject = certificate.subject
        issuer = certificate.issuer
        commonName = certificate.commonName
        serialNumber = certificate.serialNumber
        notBefore = certificate.notBefore
        notAfter = certificate.notAfter
        daysLeft = Int((certificate.notAfter.timeIntervalSince(now) / 86_400).rounded(.down))
        sha1Thumbprint = certificate.sha1Thumbprint
        sha256Thumbprint = certificate.sha256Thumbprint
        keyType = certificate.keyType.description
        subjectAlternativeNames = certificate.subjectAlternativeNames
        isCertificateAuthority = certificate.isCertificateAuthority
    }
}

/// One line of `fieldagent certs check`: a named check with its verdict and the reason.
public struct CertificateCheck: Sendable, Equatable {
    public enum Status: String, Sendable, Comparable {
        case ok = "OK"
        case warn = "WARN"
        case fail = "FAIL"

        private var rank: Int {
            switch self {
            case .ok: 0
            case .warn: 1
            case .fail: 2
            }
        }

        public static func < (lhs: Status, rhs: Status) -> Bool { lhs.rank < rhs.rank }
    }

    public var name: String
    public var status: Status
    /// What was found and, for WARN/FAIL, what to do.
    public var reason: String

    public init(_ name: String, _ status: Status, _ reason: String) {
        self.name = name
        self.status = status
        self.reason = reason
    }
}

/// The checks of `fieldagent certs check`, in the order they ran.
public struct CertificateCheckReport: Sendable, Equatable {
    public var checks: [CertificateCheck]

    /// FAIL if any check failed, else WARN if any warned, else OK.
    public var status: CertificateCheck.Status { checks.map(\.status).max() ?? .ok }

    public func check(named name: String) -> CertificateCheck? { checks.first { $0.name == name } }

    /// `OK    key permissions         mode 0600 (owner only)`: one line per check.
    public var lines: [String] {
        let width = checks.map(\.name.count).max() ?? 0
        return checks.map { check in
            let status = check.status.rawValue.padding(to: 6)
            return status + check.name.padding(to: width + 2) + check.reason
        }
    }
}

/// The data and text behind `fieldagent certs show` and `fieldagent certs check`; the CLI only
/// prints ``CertificateReport/lines(for:)`` and ``CertificateCheckReport/lines``.
public enum CertificateReport {
    /// Every certificate in a PEM file, first (the leaf of a chain) first.
    public static func show(file path: String, now: Date) throws(IdentityError) -> [CertificateSummary] {
        try X509Certificate.load(chainFile: path).map { CertificateSummary($0, now: now) }
    }

    /// The `certs show` text: a block per certificate.
    public static func lines(for summaries: [CertificateSummary]) -> [String] {
        var lines: [String] = []
        for (index, summary) in summaries.enumerated() {
            let role = summary.isCertificateAuthority ? "CA" : (index == 0 ? "leaf" : "not a CA")
            lines.append("certificate \(index + 1) of \(summaries.count) (\(role))")
            var fields: [(String, String)] = [
                ("subject", summary.subject),
                ("issuer", summary.issuer),
                ("serial", summary.serialNumber),
                ("not before", UTC.text(summary.notBefore)),
                ("not after", UTC.text(summary.notAfter) + " (\(daysText(summary.daysLeft)))"),
                ("SHA-1", summary.sha1Thumbprint),
                ("SHA-256", summary.sha256Thumbprint),
                ("key", summary.keyType),
            ]
            if let names = summary.subjectAlternativeNames { fields.append(("names", names)) }
            for (label, value) in fields { lines.append("  " + (label + ":").padding(to: 12) + value) }
        }
        return lines
    }

    static func daysText(_ daysLeft: Int) -> String {
        switch daysLeft {
        case 1: "1 day left"
        case 0...: "\(daysLeft) days left"
        default: "expired"
        }
    }

    /// Runs every check it can and never throws: a failed step becomes a FAIL line, and checks
    /// that need what failed are left out.
    ///
    /// Checks, in order: `certificate` (the chain file parses), `key permissions` (no group or
    /// other bits; for a key URI instead `key location`: where the key is held), `key` (EC P-256 or RSA ≥ 2048), `key matches certificate`, `validity`
    /// (WARN under `warningDays`, FAIL expired / not yet valid), `device id` (CN = `deviceID`,
    /// when given), `chain` (verifies against `trust` for clientAuth, when given).
    public static func check(certificateFile: String, keyFile: String, trust: TrustAnchors?, deviceID: String? = nil,
                             now: Date, warningDays: Int = CertificateValidity.defaultWarningDays)
        -> CertificateCheckReport {
        var checks: [CertificateCheck] = []
        var chain: [X509Certificate] = []
        do {
            chain = try X509Certificate.load(chainFile: certificateFile)
            let leaf = chain[0]
            let extra = chain.count == 1 ? "no intermediates" : "\(chain.count - 1) intermediate(s)"
            checks.append(.init("certificate", .ok, "\(leaf.subject) (\(leaf.keyType)), \(extra)"))
        } catch {
            checks.append(.init("certificate", .fail, error.description))
        }
        let location = KeyLocation(keyFile)
        if case let .file(path) = location {
            do {
                let mode = try PrivateKey.requireOwnerOnly(file: path)
                checks.append(.init("key permissions", .ok, "mode \(octal(mode)) (owner only)"))
            } catch {
                checks.append(.init("key permissions", .fail, error.description))
            }
        } else {
            checks.append(.init("key location", .ok, location.description))
        }
        var key: PrivateKey?
        do {
            let loaded = try location.isFile ? PrivateKey.load(file: keyFile, checkPermissions: false)
                : PrivateKey.load(location)
            key = loaded
            if let refusal = loaded.keyType.refusal {
                let error = IdentityError.unsupportedKey(path: keyFile, key: loaded.keyType.description, reason: refusal)
                checks.append(.init("key", .fail, error.description))
            } else {
                checks.append(.init("key", .ok, loaded.keyType.description))
            }
        } catch {
            checks.append(.init("key", .fail, error.description))
        }
        guard let leaf = chain.first else { return CertificateCheckReport(checks: checks) }
        if let key {
            do {
                try X509Identity.requireMatch(certificate: leaf, key: key, certificatePath: certificateFile,
                                              keyPath: keyFile)
                checks.append(.init("key matches certificate", .ok, "the key belongs to \(leaf.subject)"))
            } catch {
                checks.append(.init("key matches certificate", .fail, error.description))
            }
        }
        do {
            let validity = try CertificateValidity.evaluate(leaf, now: now, warningDays: warningDays)
            if let warning = validity.warning {
                checks.append(.init("validity", .warn, warning))
            } else {
                checks.append(.init("validity", .ok,
                                    "valid until \(UTC.text(validity.notAfter)) (\(daysText(validity.daysLeft)))"))
            }
        } catch {
            checks.append(.init("validity", .fail, error.description))
        }
        if let deviceID {
            if leaf.commonName == deviceID {
                checks.append(.init("device id", .ok, "CN=\(deviceID) is the device id"))
            } else {
                let error = IdentityError.deviceIDMismatch(expected: deviceID, commonName: leaf.commonName)
                checks.append(.init("device id", .fail, error.description))
            }
        }
        if let trust {
            do {
                let path = try ChainVerifier.verify(chain: chain, trust: trust, purpose: .clientAuthentication, now: now)
                checks.append(.init("chain", .ok, "verified against \(trust): " + path.joined(separator: " → ")))
            } catch {
                checks.append(.init("chain", .fail, error.description))
            }
        }
        return CertificateCheckReport(checks: checks)
    }
}

extension String {
    /// Pads with spaces on the right to `width` characters (never truncates).
    fileprivate func padding(to width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}
