import Foundation

/// A private (0700) folder under the system temporary directory, removed with everything in it
/// when the last reference to it goes. Keep the object, not just its `path`, for as long as the
/// folder is used.
public final class TemporaryDirectory: Sendable {
    public let path: String

    /// `prefix` names the folder (`/tmp/fieldagent-outbox-Ab12Cd`), so a leftover says whose it is.
    public init(prefix: String = "fieldagent") throws {
        // mkdtemp creates the folder with mode 0700 and a name nobody else can have taken.
        var template = Array((NSTemporaryDirectory() + "\(prefix)-XXXXXX").utf8CString)
        let made = template.withUnsafeMutableBufferPointer { buffer in buffer.baseAddress.flatMap { mkdtemp($0) } }
        guard let made else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        path = String(cString: made)
    }

    /// `path/name`.
    public func file(_ name: String) -> String { path + "/" + name }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}
