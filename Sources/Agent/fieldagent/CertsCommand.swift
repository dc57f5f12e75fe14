import CLISupport
import ArgumentParser
import DeviceID
import FoundationEssentials
import Identity

extension FieldAgent {
    struct Certs: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Device certificates: a development PKI, and what a certificate and key say about themselves.",
            discussion: "See certs/README.md for registering devices in IoT Hub (thumbprint or CA-signed) and rotation.",
            subcommands: [DevPKICommand.self, Show.self, Check.self])

        struct DevPKICommand: ParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "dev-pki",
                abstract: "Create root CA → intermediate → one certificate per device (CN = device id) and a LocalHub/Mosquitto server certificate.",
                discussion: "For development and tests only: the CA keys are written beside the certificates (mode 0600).")

            @Option(help: "Folder to write into (created if missing).")
            var out: String

            @Option(help: "Device ids, comma-separated.")
            var devices: String

            @Option(help: "Days the device and server certificates are valid.")
            var days = 365

            func validate() throws {
                if deviceIDs.isEmpty { throw ValidationError("--devices needs at least one device id") }
                for id in deviceIDs {
                    if let problem = DeviceIDRule.problem(id) {
                        throw ValidationError("--devices: '\(id.prefix(DeviceIDRule.maximumLength))' is not a valid IoT Hub device id: \(problem)")
                    }
                }
                guard (1...3650).contains(days) else { throw ValidationError("--days must be 1…3650") }
            }

            var deviceIDs: [String] { devices.split(separator: ",").map { String($0.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed()) }.filter { !$0.isEmpty } }

            func run() throws {
                let bundle = try DevPKI.generate(outputDirectory: out, devices: deviceIDs, validityDays: days, now: Date())
                let f = bundle.files
                writeLine("root CA          \(f.rootCertificate)")
                writeLine("intermediate CA  \(f.intermediateCertificate)")
                writeLine("CA chain         \(f.caChain)   (trust anchors for LocalHub / Mosquitto)")
                writeLine("server           \(f.serverCertificate) + \(f.serverKey)   (CN=localhost, SAN localhost, 127.0.0.1)")
                for id in deviceIDs {
                    if let d = f.devices[id] { writeLine("device \(id)  \(d.certificate) + \(d.key)") }
                }
            }
        }

        struct Show: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Subject, issuer, validity, days left, SHA-1/SHA-256 thumbprints (as IoT Hub shows them) and key type of each certificate in a PEM file.")

            @Argument(help: "A PEM certificate or chain.")
            var file: String

            func run() throws {
                do {
                    let summaries = try CertificateReport.show(file: file, now: Date())
                    for line in CertificateReport.lines(for: summaries) { writeLine(line) }
                } catch {
                    printError("fieldagent: \(error)")
                    throw Exit.failed
                }
            }
        }

        struct Check: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Check a device certificate and key: parse, key permissions, key type, key match, validity, device id, chain.",
                discussion: "Exit codes: 0 all OK, 1 warnings (e.g. expires within 30 days), 2 a check failed.")

            @Option(help: "The device certificate chain (PEM, leaf first).")
            var cert: String

            @Option(help: "The device private key: a PEM file (mode 0600) or a TPM key URI (handle:0x81000001).")
            var key: String

            @Option(help: "Trust anchors (a PEM file or a folder) to verify the chain against.")
            var ca: String?

            @Option(help: "The device id the certificate's CN must equal.")
            var deviceID: String?

            func run() throws {
                var trust: TrustAnchors?
                if let ca {
                    do {
                        trust = try TrustAnchors.at(ca)
                    } catch {
                        printError("fieldagent: --ca: \(error)")
                        throw Exit.usage
                    }
                }
                let report = CertificateReport.check(certificateFile: cert, keyFile: key, trust: trust,
                                                     deviceID: deviceID, now: Date())
                for line in report.lines { writeLine(line) }
                switch report.status {
                case .ok: return
                case .warn: throw Exit.degraded
                case .fail: throw Exit.failed
                }
            }
        }
    }
}
