import Foundation
import Identity
import Testing
import Transport

@Suite("TLS client and listener over 127.0.0.1 with real dev-PKI certificates")
struct TLSConnectionTests {
    @Test("mutual TLS round trip: the server sees the device's CN, bytes go both ways, close is orderly",
          arguments: ["127.0.0.1", "localhost"])
    func mutualRoundTrip(host: String) throws {
        let pki = try TestPKI()
        let listener = try pki.listener()
        defer { listener.close() }
        let server = ServerThread { () throws(TransportError) -> [String] in
            let connection = try listener.accept(timeout: .seconds(10))
            defer { connection.close() }
            let request = try connection.read(max: 100, timeout: .seconds(10))
            try connection.write(Array("pong:".utf8) + request)
            let after = try connection.read(max: 100, timeout: .seconds(10))  // the client's close_notify
            return [connection.peerCertificate?.commonName ?? "none", connection.protocolVersion,
                    String(decoding: request, as: UTF8.self), "after close: \(after.count) bytes"]
        }

        let configuration = TLSConfiguration.client(trustAnchors: pki.trust, identity: try pki.deviceIdentity())
        let client = try TLSConnection.connect(host: host, port: listener.port, configuration: configuration)
        #expect(client.peerCertificate?.commonName == "localhost")
        #expect(client.protocolVersion == "TLSv1.3")
        try client.write(Array("ping".utf8))
        let reply = try client.read(max: 100, timeout: .seconds(10))
        #expect(String(decoding: reply, as: UTF8.self) == "pong:ping")
        client.close()
        #expect(transportError { try client.write([1]) }.map { "\($0)" } == "connection to \(host):\(listener.port) "
            + "closed: close() was called; reconnect")

        #expect(try server.join().get() == ["device-1", "TLSv1.3", "ping", "after close: 0 bytes"])
    }

    @Test("the server's close reads as an empty result on the client")
    func serverCloseIsEmptyRead() throws {
        let pki = try TestPKI()
        let listener = try pki.listener()
        defer { listener.close() }
        let server = ServerThread { () throws(TransportError) in
            try listener.accept(timeout: .seconds(10)).close()
        }
        let client = try TLSConnection.connect(host: "127.0.0.1", port: listener.port,
                                               configuration: .client(trustAnchors: pki.trust, identity: try pki.deviceIdentity()))
        defer { client.close() }
        #expect(try client.read(max: 10, timeout: .seconds(10)) == [])
        try server.join().get()
    }

    @Test("a server certificate from another CA fails with OpenSSL's verify error; the server hears 'unknown ca'")
    func wrongCA() throws {
        let pki = try TestPKI()
        let other = try TestPKI(devices: [])
        let listener = try pki.listener(requireClientCertificate: false)
        defer { listener.close() }
        let server = ServerThread { () throws(TransportError) in
            _ = try listener.accept(timeout: .seconds(10))
        }
        let error = transportError {
            try TLSConnection.connect(host: "127.0.0.1", port: listener.port,
                                      configuration: .client(trustAnchors: other.trust, identity: nil))
        }
        guard case let .tlsHandshake(peer, verifyResult, errors) = error else {
            Issue.record("expected tlsHandshake, got \(String(describing: error))")
            return
        }
        #expect(peer == "127.0.0.1:\(listener.port)")
        #expect(verifyResult == "unable to get local issuer certificate (verify error 20) at depth 1: "
            + "CN=FieldAgent Dev Intermediate CA, O=FieldAgent Dev")
        #expect(errors.contains { $0.reason == "certificate verify failed" }, "\(errors)")

        guard case let .failure(.certificateRejectedByPeer(_, alert, _)) = try server.join() else {
            Issue.record("expected the server to see its certificate rejected")
            return
        }
        #expect(alert == "tlsv1 alert unknown ca")
    }

    @Test("a certificate for localhost reached as example.com fails with hostnameMismatch")
    func hostnameMismatch() throws {
        let pki = try TestPKI()
        let listener = try pki.listener(requireClientCertificate: false)
        defer { listener.close() }
        let server = ServerThread { () throws(TransportError) in
            _ = try listener.accept(timeout: .seconds(10))
        }
        let error = transportError {
            try TLSConnection.connect(host: "127.0.0.1", port: listener.port,
                                      configuration: .client(trustAnchors: pki.trust, identity: nil),
                                      expectedHostName: "example.com")
        }
        guard case let .hostnameMismatch(_, expected, presented, _) = error else {
            Issue.record("expected hostnameMismatch, got \(String(describing: error))")
            return
        }
        #expect(expected == "example.com")
        #expect(presented == "DNS:localhost, IP Address:127.0.0.1")
        #expect(error?.description.hasPrefix("TLS: 127.0.0.1:\(listener.port)'s certificate is for DNS:localhost, "
            + "IP Address:127.0.0.1, not example.com; connect with the name on the certificate") == true)
        _ = try server.join()
    }

    @Test("a server limited to TLS 1.1 fails with protocolVersion on both sides")
    func oldProtocolRefused() throws {
        let pki = try TestPKI()
        let listener = try pki.listener(requireClientCertificate: false) { configuration in
            configuration.minimumVersion = .tls1_0
            configuration.maximumVersion = .tls1_1
            configuration.securityLevel = 0  // OpenSSL 3 allows TLS 1.1 only at security level 0
            configuration.tls12CipherSuites = "DEFAULT"  // TLS 1.1 has no AEAD suite: an old server's list
        }
        defer { listener.close() }
        let server = ServerThread { () throws(TransportError) in
            _ = try listener.accept(timeout: .seconds(10))
        }
        let error = transportError {
            try TLSConnection.connect(host: "127.0.0.1", port: listener.port,
                                      configuration: .client(trustAnchors: pki.trust, identity: nil))
        }
        guard case let .protocolVersion(_, detail, errors) = error else {
            Issue.record("expected protocolVersion, got \(String(describing: error))")
            return
        }
        #expect(detail == "the peer answered with a protocol_version alert: it supports no version from "
            + "TLS 1.2 and newer that we offered")
        #expect(errors.contains { $0.reason == "tlsv1 alert protocol version" }, "\(errors)")
        #expect(error?.description.contains("the agent requires TLS 1.2 minimum") == true)

        guard case let .failure(.protocolVersion(_, serverDetail, _)) = try server.join() else {
            Issue.record("expected the server to fail with protocolVersion too")
            return
        }
        #expect(serverDetail == "the peer offered a TLS version outside TLS 1.0 to TLS 1.1")
    }

    @Test("a closed port is refused, naming the address tried")
    func connectionRefused() throws {
        let pki = try TestPKI()
        let listener = try pki.listener()
        let port = listener.port
        listener.close()
        let error = transportError {
            try TLSConnection.connect(host: "127.0.0.1", port: port, configuration: .client(trustAnchors: pki.trust, identity: nil))
        }
        #expect(error.map { "\($0)" } == "127.0.0.1:\(port) refused the connection (tried 127.0.0.1); nothing listens "
            + "there: check the port and that the hub or broker is running")
    }

    @Test("a client without a certificate is refused by a listener that requires one")
    func clientWithoutCertificateRefused() throws {
        let pki = try TestPKI()
        let listener = try pki.listener(requireClientCertificate: true)
        defer { listener.close() }
        let server = ServerThread { () throws(TransportError) in
            _ = try listener.accept(timeout: .seconds(10))
        }
        // TLS 1.3 finishes the client's side of the handshake before the server judges the
        // certificate, so the refusal may arrive with the first read.
        let error = transportError {
            let client = try TLSConnection.connect(host: "127.0.0.1", port: listener.port,
                                                   configuration: .client(trustAnchors: pki.trust, identity: nil))
            defer { client.close() }
            return try client.read(max: 10, timeout: .seconds(10))
        }
        guard case let .certificateRejectedByPeer(_, alert, _) = error else {
            Issue.record("expected certificateRejectedByPeer, got \(String(describing: error))")
            return
        }
        #expect(alert == "tlsv13 alert certificate required")
        guard case .failure(.peerCertificateMissing) = try server.join() else {
            Issue.record("expected the server to report the missing certificate")
            return
        }
    }

    @Test("a client certificate from another CA is refused by the listener with the verify error")
    func clientFromOtherCARefused() throws {
        let pki = try TestPKI()
        let other = try TestPKI(devices: ["intruder"])
        let listener = try pki.listener(requireClientCertificate: true)
        defer { listener.close() }
        let server = ServerThread { () throws(TransportError) in
            _ = try listener.accept(timeout: .seconds(10))
        }
        let error = transportError {
            let client = try TLSConnection.connect(host: "127.0.0.1", port: listener.port,
                                                   configuration: .client(trustAnchors: pki.trust,
                                                                          identity: try other.deviceIdentity("intruder")))
            defer { client.close() }
            return try client.read(max: 10, timeout: .seconds(10))
        }
        guard case let .certificateRejectedByPeer(_, alert, _) = error else {
            Issue.record("expected certificateRejectedByPeer, got \(String(describing: error))")
            return
        }
        #expect(alert == "tlsv1 alert unknown ca")
        guard case let .failure(.tlsHandshake(_, verifyResult, _)) = try server.join() else {
            Issue.record("expected the server's handshake to fail on verification")
            return
        }
        #expect(verifyResult?.hasPrefix("unable to get local issuer certificate (verify error 20) at depth 1") == true)
    }

    @Test("a read with nothing to read times out")
    func readTimeout() throws {
        let pki = try TestPKI()
        let listener = try pki.listener()
        defer { listener.close() }
        let server = ServerThread { () throws(TransportError) -> TLSConnection in
            try listener.accept(timeout: .seconds(10))
        }
        let client = try TLSConnection.connect(host: "127.0.0.1", port: listener.port,
                                               configuration: .client(trustAnchors: pki.trust, identity: try pki.deviceIdentity()))
        defer { client.close() }
        let error = transportError { try client.read(max: 10, timeout: .milliseconds(100)) }
        guard case let .timeout(operation, _, after) = error else {
            Issue.record("expected timeout, got \(String(describing: error))")
            return
        }
        #expect(operation == "read" && after == .milliseconds(100))
        try server.join().get().close()
    }
}
