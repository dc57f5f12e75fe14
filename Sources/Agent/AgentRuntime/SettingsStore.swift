import FoundationEssentials
import SystemCalls

/// Keeps the applied twin settings in `twin-settings.json` under the state directory, so they are
/// in force at the next start before the hub is reached. Written to a temporary file, fsynced,
/// renamed and the folder fsynced, so a crash or a power cut leaves either the old or the new
/// file, never half of one, and a save that returned is kept.
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
            try POSIX.writeFileDurably(path, Array(data), mode: 0o644)
            return .success(())
        } catch {
            return .failure(Problem(description: "cannot save the twin settings to \(path): \(error)"))
        }
    }
}
