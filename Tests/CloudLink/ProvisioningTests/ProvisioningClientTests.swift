import Foundation
import HubClient
import Identity
import Logging
import MQTT
import Provisioning
import Testing
import TestSupport
import Transport

/// The blocking DPS client over a real TLS socket on 127.0.0.1 (dev PKI, mutual TLS) against a
/// small scripted DPS responder: what goes on the wire, and what the device ends up with.
@Suite struct ProvisioningClientTests {
    /// What the responder saw.
    final class Seen: @unchecked Sendable {
        let lock = NSLock()
        var connect: MQTTPacket.Connect?
        var subscriptions: [String] = []
        var publishes: [(topic: String, payload: [UInt8])] = []
        var clientCommonName: String?
        func record(_ body: (Seen) -> Void) { lock.withLock { body(self) } }
    }

    /// How the responder answers a register or poll PUBLISH (rid, topic, payload) with DPS messages.
    typealias Answer = @Sendable (_ rid: String, _ topic: String, _ payload: [UInt8]) throws -> [(topic: String, body: String)]

    struct Fixture {
        let folder: TemporaryDirectory
        let pki: DevPKI.Bundle
        let listener: TLSListener
        let device: DevPKIFiles.DeviceFiles

        init() throws {
            folder = try TemporaryDirectory(prefix: "fieldagent-dps")
            pki = try DevPKI.generate(outputDirectory: folder.path, devices: ["dev-1"], now: Date())
            listener = try TLSListener(configuration: .server(
                identity: try X509Identity.load(certificateFile: pki.files.serverCertificate, keyFile: pki.files.serverKey),
                clientTrustAnchors: .file(pki.files.rootCertificate)))
            device = try #require(pki.files.devices["dev-1"])
        }

        func settings() -> DeviceProvisioning.Settings {
            DeviceProvisioning.Settings(host: "127.0.0.1", port: listener.port, idScope: "0ne00LOCAL1", registrationID: "dev-1",
                                        certificateFile: device.certificate, keyFile: device.key, trustAnchors: pki.files.caChain)
        }

        /// Serves one connection on a thread: CONNACK, SUBACK, PUBACK, then `answer`'s messages.
        func serve(connAck: MQTTPacket.ConnAck.ReturnCode = .accepted, _ answer: @escaping Answer) -> (Seen, Thread) {
            let seen = Seen()
            let listener = listener
            let thread = Thread {
                guard let connection = try? listener.accept(timeout: .seconds(10)) else { return }
                defer { connection.close() }
                seen.record { $0.clientCommonName = connection.peerCertificate?.commonName }
                var decoder = MQTTDecoder(maximumPacketSize: 1 << 20)
                func send(_ packet: MQTTPacket) throws { try connection.write(MQTTEncoder.encode(packet)) }
                do {
                    while true {
                        let bytes = try connection.read(max: 4096, timeout: .seconds(10))
                        if bytes.isEmpty { return }
                        for packet in try decoder.feed(bytes) {
                            switch packet {
                            case .connect(let connect):
                                seen.record { $0.connect = connect }
                                try send(.connAck(.init(sessionPresent: false, returnCode: connAck)))
                                if connAck != .accepted { return }
                            case .subscribe(let subscribe):
                                seen.record { $0.subscriptions += subscribe.subscriptions.map(\.filter) }
                                try send(.subAck(.init(packetID: subscribe.packetID, returnCodes: [.granted(.atLeastOnce)])))
                            case .publish(let publish):
                                seen.record { $0.publishes.append((publish.topic, publish.payload)) }
                                if let id = publish.packetID { try send(.pubAck(.init(packetID: id))) }
                                let rid = publish.topic.split(separator: "$rid=").last.map { String($0.prefix { $0 != "&" }) } ?? ""
                                for reply in try answer(rid, publish.topic, publish.payload) {
                                    try send(.publish(.init(topic: reply.topic, payload: Array(reply.body.utf8), qos: .atMostOnce)))
                                }
                            case .disconnect:
                                return
                            default:
                                break
                            }
                        }
                    }
                } catch {}
            }
            thread.start()
            return (seen, thread)
        }
    }

    static let assigned = #"{"operationId":"op-1","status":"assigned","registrationState":{"registrationId":"dev-1","assignedHub":"hub.local","deviceId":"dev-1","status":"assigned","substatus":"initialAssignment"}}"#

    @Test("register, 202 assigning, poll, 200 assigned: the wire matches the DPS MQTT API")
    func registerPollAssigned() throws {
        let fixture = try Fixture()
        let (seen, _) = fixture.serve { rid, topic, _ in
            if topic.hasPrefix("$dps/registrations/PUT/iotdps-register/") {
                return [("$dps/registrations/res/202/?$rid=\(rid)&retry-after=0", #"{"operationId":"op-1","status":"assigning"}"#)]
            }
            return [("$dps/registrations/res/200/?$rid=\(rid)", Self.assigned)]
        }
        let outcome = try DeviceProvisioning.register(fixture.settings(), logger: Logger(label: "test"))
        #expect(outcome.assignment == ProvisioningAssignment(registrationID: "dev-1", assignedHub: "hub.local", deviceID: "dev-1",
                                                              substatus: "initialAssignment", operationID: "op-1"))
        #expect(outcome.issued == nil)
        seen.record { seen in
            #expect(seen.clientCommonName == "dev-1", "TLS client certificate: the onboarding certificate")
            #expect(seen.connect?.clientID == "dev-1")
            #expect(seen.connect?.username == "0ne00LOCAL1/registrations/dev-1/api-version=2019-03-31")
            #expect(seen.connect?.password == nil)
            #expect(seen.connect?.cleanSession == true)
            #expect(seen.subscriptions == ["$dps/registrations/res/#"])
            #expect(seen.publishes.map(\.topic) == ["$dps/registrations/PUT/iotdps-register/?$rid=1",
                                                    "$dps/registrations/GET/iotdps-get-operationstatus/?$rid=2&operationId=op-1"])
            #expect(seen.publishes.first.map { String(decoding: $0.payload, as: UTF8.self) } == #"{"registrationId":"dev-1"}"#)
            #expect(seen.publishes.last?.payload == [])
        }
    }

    @Test("a refusal ends with the problem and the fix")
    func refusal() throws {
        let fixture = try Fixture()
        _ = fixture.serve { rid, _, _ in
            [("$dps/registrations/res/401/?$rid=\(rid)",
              #"{"errorCode":401002,"trackingId":"t","message":"no enrollment matches","timestampUtc":"x"}"#)]
        }
        #expect(throws: ProvisioningError.refused(registrationID: "dev-1", httpStatus: 401, errorCode: 401002,
                                                  message: "no enrollment matches")) {
            try DeviceProvisioning.register(fixture.settings(), logger: Logger(label: "test"))
        }
    }

    @Test("a CONNACK refusal names what to check")
    func connAckRefused() throws {
        let fixture = try Fixture()
        _ = fixture.serve(connAck: .notAuthorized) { _, _, _ in [] }
        do {
            _ = try DeviceProvisioning.register(fixture.settings(), logger: Logger(label: "test"))
            Issue.record("expected a refusal")
        } catch {
            #expect(error.description.contains("DPS refused the MQTT connection"))
            #expect(error.description.contains("provisioning.id_scope"))
        }
    }

    @Test("with issuance: a P-384 key (0600), a CSR with CN = registration id, the issued chain written leaf first")
    func issuance() throws {
        let fixture = try Fixture()
        let issuance = DeviceProvisioning.Issuance(keyFile: fixture.folder.file("issued.key"),
                                                   certificateFile: fixture.folder.file("issued.pem"))
        let intermediate = fixture.pki.intermediate
        let (seen, _) = fixture.serve { rid, _, payload in
            // The test's DPS signs the key the device wrote (the CSR itself is checked with openssl below).
            let key = try PrivateKey.load(file: issuance.keyFile)
            let leaf = try DevPKI.issue(commonName: "dev-1", profile: .device, key: key, issuer: intermediate,
                                        notBefore: Date() - 60, notAfter: Date() + 30 * 86_400)
            let chain = [intermediate.certificate, leaf].map { "\"\(Data($0.derBytes).base64EncodedString())\"" }
            _ = payload
            return [("$dps/registrations/res/200/?$rid=\(rid)",
                     #"{"operationId":"op","status":"assigned","registrationState":{"assignedHub":"hub.local","deviceId":"dev-1","status":"assigned","issuedCertificateChain":["#
                        + chain.joined(separator: ",") + "]}}")]
        }
        var settings = fixture.settings()
        settings.issuance = issuance
        let outcome = try DeviceProvisioning.register(settings, logger: Logger(label: "test"))
        #expect(outcome.issued == issuance)

        let key = try PrivateKey.load(file: issuance.keyFile)
        #expect(key.keyType == .ec(curve: "secp384r1"))
        let mode = try FileManager.default.attributesOfItem(atPath: issuance.keyFile)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        let chain = try X509Certificate.load(chainFile: issuance.certificateFile)
        #expect(chain.count == 2)
        #expect(chain[0].commonName == "dev-1" && chain[0].hasPublicKey(of: key), "the leaf first, found by its key")
        #expect(chain[1].commonName == "FieldAgent Dev Intermediate CA")
        #expect(outcome.issuedThumbprint == chain[0].sha256Thumbprint)
        // The issued identity is usable at a hub (key policy, key match).
        _ = try X509Identity.load(certificateFile: issuance.certificateFile, keyFile: issuance.keyFile)

        let register = try #require(seen.lock.withLock { seen.publishes.first })
        #expect(seen.lock.withLock { seen.connect?.username } == "0ne00LOCAL1/registrations/dev-1/api-version=2025-07-01-preview")
        let body = try #require(try JSONSerialization.jsonObject(with: Data(register.payload)) as? [String: Any])
        let csr = try #require(body["csr"] as? String)
        #expect(!csr.contains("\n") && !csr.contains("-----"))
        // openssl, an independent implementation, reads the CSR: DER, signature valid, CN, P-384.
        let der = fixture.folder.file("request.der")
        try #require(Data(base64Encoded: csr)).write(to: URL(fileURLWithPath: der))
        let (status, text) = try OpenSSLCommand.run(["req", "-inform", "DER", "-in", der, "-noout", "-verify", "-subject", "-text"])
        #expect(status == 0, "\(text)")
        #expect(text.contains("CN = dev-1") || text.contains("CN=dev-1"))
        #expect(text.contains("NIST CURVE: P-384") || text.contains("secp384r1"))
        #expect(text.lowercased().contains("verify ok") || text.contains("Certificate request self-signature verify OK"))
    }

    @Test("issued chains: the leaf is found by its key whatever the order; a chain without it is refused")
    func leafByKey() throws {
        let folder = try TemporaryDirectory(prefix: "fieldagent-csr")
        let pki = try DevPKI.generate(outputDirectory: folder.path, devices: [], now: Date())
        let key = try CertificateRequest.makeKey(writingTo: folder.file("k.key"))
        let leaf = try DevPKI.issue(commonName: "dev-9", profile: .device, key: key, issuer: pki.intermediate,
                                    notBefore: Date(), notAfter: Date() + 86_400)
        let b64 = { (c: X509Certificate) in Data(c.derBytes).base64EncodedString() }
        let chain = try CertificateRequest.issuedChain([b64(pki.intermediate.certificate), b64(leaf)], key: key)
        #expect(chain.map(\.sha256Thumbprint) == [leaf.sha256Thumbprint, pki.intermediate.certificate.sha256Thumbprint])
        #expect(throws: IdentityError.self) {
            try CertificateRequest.issuedChain([b64(pki.intermediate.certificate)], key: key)
        }
        #expect(throws: IdentityError.self) { try CertificateRequest.issuedChain(["not base64!"], key: key) }
    }
}
