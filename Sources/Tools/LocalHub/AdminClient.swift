#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import JSON
import SystemCalls

/// The CLI's side of the admin socket: blocking, one request per call (see ``AdminRequest``).
///
/// Contract: a hub that is not running (no socket file, or nothing listening) throws
/// ``HubError/adminUnavailable(path:reason:)`` naming the socket and how to start the hub; an
/// error answer throws ``HubError/adminRequestFailed(_:)`` with the hub's message.
public struct AdminClient: Sendable {
    public let socketPath: String

    public init(stateDirectory: String) {
        socketPath = stateDirectory + "/admin.sock"
    }

    public init(socketPath: String) {
        self.socketPath = socketPath
    }

    /// Sends `request` and returns the `result` of the answer.
    public func send(_ request: AdminRequest) throws(HubError) -> JSONValue {
        let fd = try connect()
        defer { POSIX.close(fd) }
        try write(request, fd: fd)
        var reader = LineReader(fd: fd, path: socketPath)
        guard let line = try reader.next() else {
            throw .adminRequestFailed("the hub closed the admin connection without answering '\(request.op)'")
        }
        return try Self.result(of: line)
    }

    /// Streams telemetry (`localhub tail`): calls `handler` per record until it returns false or the hub stops.
    public func tail(deviceID: String?, _ handler: (TelemetryRecord) -> Bool) throws(HubError) {
        let fd = try connect()
        defer { POSIX.close(fd) }
        var request = AdminRequest(op: "tail")
        request.deviceId = deviceID
        try write(request, fd: fd)
        var reader = LineReader(fd: fd, path: socketPath)
        guard let first = try reader.next() else { return }
        _ = try Self.result(of: first)
        while let line = try reader.next() {
            guard let response = try? JSONDecoder().decode(AdminResponse.self, from: Data(line)),
                  let record = response.telemetry else { continue }
            if !handler(record) { return }
        }
    }

    func connect() throws(HubError) -> Int32 {
        guard POSIX.exists(socketPath) else {
            throw .adminUnavailable(path: socketPath, reason: "no such socket")
        }
        do { return try POSIX.connectUnix(socketPath).fd } catch {
            throw .adminUnavailable(path: socketPath, reason: error.description)
        }
    }

    func write(_ request: AdminRequest, fd: Int32) throws(HubError) {
        do { try POSIX.writeAll(fd, request.line(), subject: socketPath) } catch {
            throw .adminUnavailable(path: socketPath, reason: error.description)
        }
    }

    static func result(of line: [UInt8]) throws(HubError) -> JSONValue {
        guard let response = try? JSONDecoder().decode(AdminResponse.self, from: Data(line)) else {
            throw .adminRequestFailed("unreadable answer from the hub: \(String(decoding: line.prefix(200), as: UTF8.self))")
        }
        if response.ok == true { return response.result ?? .null }
        throw .adminRequestFailed(response.error ?? "the hub answered with an error and no message")
    }
}

/// Lines from a blocking socket.
struct LineReader {
    let fd: Int32
    let path: String
    var buffer: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65_536)

    init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
    }

    mutating func next() throws(HubError) -> [UInt8]? {
        while true {
            if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = Array(buffer[..<newline])
                buffer.removeSubrange(...newline)
                return line
            }
            let count: Int
            do throws(SystemError) {
                let (fd, path) = (fd, path)
                count = try chunk.withUnsafeMutableBytes { raw in
                    Result { () throws(SystemError) in try POSIX.read(fd, into: raw, subject: path) }
                }.get()
            } catch {
                throw .adminUnavailable(path: path, reason: error.description)
            }
            if count == 0 { return nil }
            buffer += chunk[0..<count]
        }
    }
}
