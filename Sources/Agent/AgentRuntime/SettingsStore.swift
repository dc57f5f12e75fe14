import FoundationEssentials
import SystemCalls
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Keeps the applied twin settings in `twin-settings.json` under the state directory, so they are
/// in force at the next start before the hub is reached. Written to a temporary file, flushed
/// and renamed, so a crash leaves either the old or the new file, never half of one.
public struct SettingsStore: Sendable {
    public let directory: String
    public var path: String { directory + "/twin-settings.json" }

    public init(directory: String) {
        self.directory = directory
    }

    public struct Problem: Error, CustomStringConvertible {
        public var description: String
    }

    public func load() -> Result<TwinProperties.Snapshot?, Problem> {
        guard FileManager.default.fileExists(atPath: path) else { return .success(nil) }
        guard let data = FileManager.default.contents(atPath: path) else {
            return .failure(Problem(description: "cannot read \(path) (check its permissions)"))
        }
        do {
            return .success(try JSONDecoder().decode(TwinProperties.Snapshot.self, from: data))
        } catch {
            return .failure(Problem(description: "\(path) is not a settings snapshot (\(error)); delete it to start fresh"))
        }
    }

    public func save(_ snapshot: TwinProperties.Snapshot) -> Result<Void, Problem> {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let data = try encoder.encode(snapshot)
            let temporary = path + ".tmp"
            guard FileManager.default.createFile(atPath: temporary, contents: data) else {
                return .failure(Problem(description: "cannot write \(temporary) (is \(directory) writable and the disk not full?)"))
            }
            let fd = try POSIX.call("open", temporary) { open(temporary, O_WRONLY | O_CLOEXEC) }
            defer { POSIX.close(fd) }
            try POSIX.call("fsync", temporary) { fsync(fd) }
            if rename(temporary, path) != 0 {
                return .failure(Problem(description: "cannot rename \(temporary) to \(path): \(String(cString: strerror(errno)))"))
            }
            return .success(())
        } catch {
            return .failure(Problem(description: "cannot save the twin settings to \(path): \(error)"))
        }
    }
}
