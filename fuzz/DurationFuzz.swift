// libFuzzer harness for durations as configuration files and the twin write them
// (`sendFrequency: "1h30m"`, `"PT30S"`). Compiled with
// Sources/Agent/Configuration/DurationText.swift into one module by scripts/fuzz.sh.
//
// Properties checked (a violation traps, which libFuzzer reports as a crash):
// 1. `parse` never crashes, whatever the text, and never gives a negative duration.
// 2. A parsed duration is formatted into text that parses back to the same duration (exactly,
//    up to 2^53 ms, where the Double sum the parser uses is exact).

@_cdecl("LLVMFuzzerTestOneInput")
public func durationFuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    guard let duration = try? DurationText.parse(text) else { return 0 }
    guard duration >= .zero else { fatalError("'\(text)' parsed as the negative \(duration)") }
    guard duration <= .milliseconds(Int64(1) << 53) else { return 0 }
    let formatted = DurationText.format(duration)
    guard let again = try? DurationText.parse(formatted) else {
        fatalError("'\(text)' parsed as \(duration), formatted as '\(formatted)', which does not parse")
    }
    guard again == duration else { fatalError("'\(text)' parsed as \(duration), formatted as '\(formatted)', parsed as \(again)") }
    return 0
}
