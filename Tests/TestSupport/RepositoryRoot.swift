import Foundation

/// The repository's root folder (where `Package.swift` is), found from this file's own place
/// (`Tests/TestSupport/`), so tests can read `boards/`, `models/` and `firmware-interface/`.
public let repositoryRoot: String = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

/// `repositoryRoot` + `/` + a path inside the repository.
public func repositoryPath(_ relative: String) -> String { repositoryRoot + "/" + relative }
