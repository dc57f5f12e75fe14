import Foundation

/// The rows of the first Markdown table after `heading` in a file, each a list of cells with
/// surrounding spaces and backticks taken off (docs/configuration.md's key table, for the tests
/// that keep it and the code in step).
public func markdownTable(in path: String, after heading: String) throws -> (header: [String], rows: [[String]]) {
    let text = try String(contentsOfFile: path, encoding: .utf8)
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    guard let start = lines.firstIndex(of: heading) else { return ([], []) }
    let table = lines[(start + 1)...].drop { !$0.hasPrefix("|") }.prefix { $0.hasPrefix("|") }
    let cells = table.map { line in
        line.dropFirst().dropLast().components(separatedBy: " | ").map {
            $0.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "`"))
        }
    }
    guard cells.count >= 2 else { return ([], []) }
    return (cells[0], Array(cells.dropFirst(2)))
}
