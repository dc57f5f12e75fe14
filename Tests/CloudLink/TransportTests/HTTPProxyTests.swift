import Foundation
import Identity
import TestSupport
import Testing
import Transport

@Suite("HTTP CONNECT proxy: parsing, and mutual TLS through a real tunnel")
struct HTTPProxyTests {
    @Test("proxy URLs: host, port, user and password (percent-decoded); the password is never shown")
    func parses() throws {
        let proxy = try HTTPProxy.parse("http://plant:s%40cret@proxy.plant.local:3128").get()
        #expect(proxy == HTTPProxy(host: "proxy.plant.local", port: 3128, user: "plant", password: "s@cret"))
        #expect(proxy.description == "http://plant@proxy.plant.local:3128")
        #expect(try HTTPProxy.parse("http://10.0.0.1:8080/").get() == HTTPProxy(host: "10.0.0.1", port: 8080))
        for bad in ["https://proxy:3128", "http://proxy", "http://:3128", "proxy:3128", "http://proxy:0"] {
            #expect(throws: ProxyURLError.self, "\(bad)") { try HTTPProxy.parse(bad).get() }
        }
        let request = String(decoding: proxy.connectRequest(host: "hub.azure-devices.net", port: 8883), as: UTF8.self)
        // base64("plant:s@cret"), computed independently: python3 -c 'import base64; print(base64.b64encode(b"plant:s@cret"))'
        #expect(request == "CONNECT hub.azure-devices.net:8883 HTTP/1.1\r\nHost: hub.azure-devices.net:8883\r\n"
            + "Proxy-Authorization: Basic cGxhbnQ6c0BjcmV0\r\n\r\n")
        #expect(try HTTPProxy.ResponseHead.parse(Array("HTTP/1.1 200 Connection established\r\n".utf8)) == nil)
        #expect(try HTTPProxy.ResponseHead.parse(Array("HTTP/1.0 407 Proxy Authentication Required\r\nA: b\r\n\r\n".utf8))
            == .init(status: 407, reason: "Proxy Authentication Required", length: 52))
    }

    @Test("mutual TLS through the proxy with basic authentication: the server sees the device, the proxy the tunnel",
          .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/python3"), "needs python3"))
    func tunnel() throws {
        let pki = try TestPKI()
        let listener = try pki.listener()
        defer { listener.close() }
        let proxy = try ConnectProxy(user: "plant:s3cret")
        let server = ServerThread { () throws(TransportError) -> String in
            let connection = try listener.accept(timeout: .seconds(10))
            defer { connection.close() }
            let request = try connection.read(max: 100, timeout: .seconds(10))
            try connection.write(request)
            return (connection.peerCertificate?.commonName ?? "none") + " " + String(decoding: request, as: UTF8.self)
        }
        let client = try TLSConnection.connect(host: "127.0.0.1", port: listener.port,
                                               configuration: .client(trustAnchors: pki.trust, identity: try pki.deviceIdentity()),
                                               expectedHostName: "localhost",
                                               proxy: HTTPProxy(host: "127.0.0.1", port: proxy.port, user: "plant", password: "s3cret"))
        try client.write(Array("through".utf8))
        #expect(try client.read(max: 100, timeout: .seconds(10)) == Array("through".utf8))
        client.close()
        #expect(try server.join().get() == "device-1 through")
        #expect(proxy.nextLine() == "CONNECT 127.0.0.1:\(listener.port)")
    }

    @Test("a wrong password is refused by the proxy with 407, and the error says what to check",
          .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/python3"), "needs python3"))
    func wrongPassword() throws {
        let pki = try TestPKI()
        let proxy = try ConnectProxy(user: "plant:s3cret")
        let error = transportError {
            try TLSConnection.connect(host: "127.0.0.1", port: 9, configuration: .client(trustAnchors: pki.trust, identity: nil),
                                      proxy: HTTPProxy(host: "127.0.0.1", port: proxy.port, user: "plant", password: "wrong"))
        }
        guard case let .proxy(name, target, reason) = error else {
            Issue.record("expected proxy, got \(String(describing: error))")
            return
        }
        #expect(name == "http://plant@127.0.0.1:\(proxy.port)")
        #expect(target == "127.0.0.1:9")
        #expect(reason == "407 Proxy Authentication Required")
        #expect(error?.description.hasSuffix("check the user and password in the proxy setting (http://user:password@host:port)") == true)
    }
}
