import HTTPServer
import Logging
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite struct HTTPRequestParserTests {
    let parser = HTTPRequestParser(limits: .init(maximumHead: 256, maximumBody: 32))

    func parse(_ text: String) -> HTTPRequestParser.Verdict { parser.parse(Array(text.utf8)) }

    @Test func readsAGetWithItsHeadersAndQuery() {
        let verdict = parse("GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\nAuthorization:  Bearer abc \r\n\r\n")
        guard case .request(let request) = verdict else { Issue.record("\(verdict)"); return }
        #expect(request.method == "GET")
        #expect(request.path == "/metrics")
        #expect(request.query == "x=1")
        #expect(request.header("AUTHORIZATION") == "Bearer abc")
        #expect(request.body.isEmpty)
    }

    @Test func waitsForTheWholeBody() {
        #expect(parse("POST /api/blink HTTP/1.1\r\nContent-Length: 5\r\n\r\n{\"a\"") == .needMore)
        #expect(parse("GET / HTTP/1.1\r\nHost: a\r\n") == .needMore)
        guard case .request(let request) = parse("POST /api/blink HTTP/1.1\r\nContent-Length: 5\r\n\r\n{\"a\"}") else {
            Issue.record("no request"); return
        }
        #expect(request.body == Array("{\"a\"}".utf8))
    }

    @Test func refusesWhatItDoesNotServe() {
        func status(_ text: String) -> Int? {
            if case .refuse(let status, _) = parse(text) { status } else { nil }
        }
        #expect(status("POST / HTTP/1.1\r\nContent-Length: 33\r\n\r\n") == 413)
        #expect(status("GET /" + String(repeating: "a", count: 300) + " HTTP/1.1\r\n\r\n") == 431)
        #expect(status("GET /" + String(repeating: "a", count: 300)) == 431)
        #expect(status("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n") == 501)
        #expect(status("GET / HTTP/2.0\r\n\r\n") == 505)
        #expect(status("GET nothing HTTP/1.1\r\n\r\n") == 400)
        #expect(status("GET / HTTP/1.1\r\nno colon\r\n\r\n") == 400)
        #expect(status("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n") == 400)
        #expect(status("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n") == 400)
    }

    @Test func parsesListenAddresses() throws {
        #expect(try ListenAddress.parse("127.0.0.1:9464").get() == ListenAddress(host: "127.0.0.1", port: 9464))
        #expect(try ListenAddress.parse("[::1]:80").get() == ListenAddress(host: "::1", port: 80))
        #expect(try ListenAddress.parse("[::1]:80").get().description == "[::1]:80")
        #expect((try? ListenAddress.parse("127.0.0.1").get()) == nil)
        #expect((try? ListenAddress.parse(":80").get()) == nil)
        #expect((try? ListenAddress.parse("a:70000").get()) == nil)
    }
}

/// A blocking client on 127.0.0.1: sends `bytes`, reads until the server closes.
func exchange(port: UInt16, _ bytes: [UInt8], timeout: Int32 = 5000) -> String? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var tv = timeval(tv_sec: Int(timeout / 1000), tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = port.bigEndian
    address.sin_addr = in_addr(s_addr: UInt32(0x7F00_0001).bigEndian)
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else { return nil }
    if !bytes.isEmpty { _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } }
    var received: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = recv(fd, &buffer, buffer.count, 0)
        if n <= 0 { break }
        received += buffer[..<n]
    }
    return String(decoding: received, as: UTF8.self)
}

@Suite struct HTTPServerTests {
    func server(maximumConnections: Int = 8, timeout: Duration = .seconds(10)) throws -> HTTPServer {
        try HTTPServer(configuration: .init(address: ListenAddress(host: "127.0.0.1", port: 0), maximumConnections: maximumConnections, timeout: timeout),
                       logger: Logger(label: "test")) { request in
            HTTPResponse(status: 200, text: "\(request.method) \(request.path) \(request.body.count) \(request.header("authorization") ?? "-")")
        }
    }

    @Test func answersGetHeadAndPostThenCloses() throws {
        let s = try server()
        try s.start()
        defer { s.stop() }
        let get = exchange(port: s.port, Array("GET /x HTTP/1.1\r\nHost: a\r\n\r\n".utf8))
        #expect(get?.hasPrefix("HTTP/1.1 200 OK\r\n") == true)
        #expect(get?.contains("Content-Length: 10\r\n") == true)
        #expect(get?.hasSuffix("\r\n\r\nGET /x 0 -") == true)
        let post = exchange(port: s.port, Array("POST /api/blink HTTP/1.1\r\nAuthorization: Bearer t\r\nContent-Length: 2\r\n\r\n{}".utf8))
        #expect(post?.hasSuffix("\r\n\r\nPOST /api/blink 2 Bearer t") == true)
        let head = exchange(port: s.port, Array("HEAD /x HTTP/1.1\r\n\r\n".utf8))
        #expect(head?.hasSuffix("Connection: close\r\n\r\n") == true)
    }

    @Test func refusesAnOversizedBodyWith413() throws {
        let s = try server()
        try s.start()
        defer { s.stop() }
        let answer = exchange(port: s.port, Array("POST / HTTP/1.1\r\nContent-Length: 999999\r\n\r\n".utf8))
        #expect(answer?.hasPrefix("HTTP/1.1 413 ") == true)
    }

    @Test func closesAConnectionThatSendsNothingAfterTheTimeout() throws {
        let s = try server(timeout: .milliseconds(200))
        try s.start()
        defer { s.stop() }
        let started = ContinuousClock.now
        let answer = exchange(port: s.port, [])
        #expect(answer == "")
        #expect(ContinuousClock.now - started < .seconds(4))
    }

    @Test func servesOthersWhileConnectionsAreAtTheirBound() throws {
        let s = try server(maximumConnections: 1, timeout: .milliseconds(300))
        try s.start()
        defer { s.stop() }
        // A silent connection holds the only slot until its timeout; the next request waits in
        // the backlog and is answered after it.
        let silent = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = s.port.bigEndian
        address.sin_addr = in_addr(s_addr: UInt32(0x7F00_0001).bigEndian)
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(silent, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        defer { close(silent) }
        let answer = exchange(port: s.port, Array("GET /after HTTP/1.1\r\n\r\n".utf8))
        #expect(answer?.hasSuffix("GET /after 0 -") == true)
    }

    @Test func refusesAnAddressInUse() throws {
        let s = try server()
        #expect(throws: (any Error).self) {
            _ = try HTTPServer(configuration: .init(address: ListenAddress(host: "127.0.0.1", port: s.port)), logger: Logger(label: "test")) { _ in .error(500) }
        }
    }
}
