import Foundation
import Identity
import TestSupport
import Testing

@Suite("CertificateReport: `certs show` and `certs check`")
struct CertificateReportTests {
    let directory: TemporaryDirectory
    let bundle: DevPKI.Bundle

    init() throws {
        directory = try TemporaryDirectory()
        bundle = try DevPKI.generate(outputDirectory: directory.path, devices: ["pump-7", "valve-2"], now: testNow)
    }

    @Test("show lists each certificate of the file with validity, days left, thumbprints and key type")
    func show() throws {
        let file = directory.file("pump-7.pem")
        let summaries = try CertificateReport.show(file: file, now: testNow)
        #expect(summaries.count == 2)
        let leaf = try X509Certificate.load(chainFile: file)[0]
        #expect(summaries[0].daysLeft == 365)
        #expect(summaries[0].sha1Thumbprint == leaf.sha1Thumbprint)

        let lines = CertificateReport.lines(for: summaries)
        #expect(Array(lines.prefix(9)) == [
            "certificate 1 of 2 (leaf)",
            "  subject:    CN=pump-7, O=FieldAgent Dev",
            "  issuer:     CN=FieldAgent Dev Intermediate CA, O=FieldAgent Dev",
            "  serial:     \(leaf.serialNumber)",
            "  not before: 2027-01-15 07:55:00 UTC",
            "  not after:  2028-01-15 08:00:00 UTC (365 days left)",
            "  SHA-1:      \(leaf.sha1Thumbprint)",
            "  SHA-256:    \(leaf.sha256Thumbprint)",
            "  key:        EC P-256",
        ])
        #expect(lines[9] == "certificate 2 of 2 (CA)")

        let server = CertificateReport.lines(for: try CertificateReport.show(file: bundle.files.serverCertificate, now: testNow))
        #expect(server.contains("  names:      DNS:localhost, IP Address:127.0.0.1"))
    }

    @Test("check passes every step for a sound identity")
    func checkAllOK() throws {
        let report = CertificateReport.check(certificateFile: directory.file("pump-7.pem"), keyFile: directory.file("pump-7.key"),
                                             trust: .file(bundle.files.rootCertificate), deviceID: "pump-7", now: testNow)
        #expect(report.checks.map(\.name) == ["certificate", "key permissions", "key", "key matches certificate",
                                              "validity", "device id", "chain"])
        #expect(report.checks.allSatisfy { $0.status == .ok }, "\(report.lines)")
        #expect(report.status == .ok)
        #expect(report.lines == [
            "OK    certificate              CN=pump-7, O=FieldAgent Dev (EC P-256), 1 intermediate(s)",
            "OK    key permissions          mode 0600 (owner only)",
            "OK    key                      EC P-256",
            "OK    key matches certificate  the key belongs to CN=pump-7, O=FieldAgent Dev",
            "OK    validity                 valid until 2028-01-15 08:00:00 UTC (365 days left)",
            "OK    device id                CN=pump-7 is the device id",
            "OK    chain                    verified against CA file \(bundle.files.rootCertificate): CN=pump-7, "
                + "O=FieldAgent Dev → CN=FieldAgent Dev Intermediate CA, O=FieldAgent Dev → CN=FieldAgent Dev Root CA, "
                + "O=FieldAgent Dev",
        ])
    }

    @Test("check reports every problem at once: permissions, mismatch, expiry warning, device id, wrong CA")
    func checkCollectsProblems() throws {
        let key = directory.file("valve-2.key")
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: key)
        let other = try TemporaryDirectory()
        let otherPKI = try DevPKI.generate(outputDirectory: other.path, devices: [], now: testNow)
        let report = CertificateReport.check(certificateFile: directory.file("pump-7.pem"), keyFile: key,
                                             trust: .file(otherPKI.files.rootCertificate), deviceID: "pump-8",
                                             now: testNow + 350 * day)
        let statuses = Dictionary(uniqueKeysWithValues: report.checks.map { ($0.name, $0.status) })
        #expect(statuses == ["certificate": .ok, "key permissions": .fail, "key": .ok, "key matches certificate": .fail,
                             "validity": .warn, "device id": .fail, "chain": .fail])
        #expect(report.status == .fail)
        #expect(report.check(named: "key permissions")?.reason.hasSuffix("run `chmod 600 \(key)`") == true)
        #expect(report.check(named: "validity")?.reason.hasPrefix("certificate CN=pump-7, O=FieldAgent Dev expires in 15 days") == true)
        #expect(report.check(named: "chain")?.reason.contains("unable to get local issuer certificate") == true)
    }

    @Test("a warning alone makes the report WARN; an unreadable certificate stops the checks that need it")
    func statusOrdering() throws {
        let warn = CertificateReport.check(certificateFile: directory.file("pump-7.pem"), keyFile: directory.file("pump-7.key"),
                                           trust: nil, now: testNow + 340 * day)
        #expect(warn.status == .warn)
        #expect(warn.lines.contains { $0.hasPrefix("WARN  validity ") })

        let missing = CertificateReport.check(certificateFile: directory.file("nope.pem"), keyFile: directory.file("pump-7.key"),
                                              trust: .file(bundle.files.rootCertificate), now: testNow)
        #expect(missing.checks.map(\.name) == ["certificate", "key permissions", "key"])
        #expect(missing.check(named: "certificate")?.status == .fail)
    }
}
