import { describe, expect, it } from "vitest";
import { duration, fmt } from "../src/components/ui";

describe("number and time formats", () => {
  it("keeps four significant digits and drops trailing zeros", () => {
    expect(fmt(0.20000000000000001)).toBe("0.2");
    expect(fmt(5.58544949465056)).toBe("5.585");
    expect(fmt(12161)).toBe("12,161");
    expect(fmt(0.00012341)).toBe("1.234e-4");
    expect(fmt(null)).toBe("–");
    expect(fmt(Number.NaN)).toBe("NaN");
  });
  it("writes durations in µs or ms under a second, seconds, then minutes", () => {
    expect(duration(4.24)).toBe("4.2 s");
    expect(duration(42.4)).toBe("42 s");
    expect(duration(185)).toBe("3 min 5 s");
    expect(duration(0.0351)).toBe("35 ms");
    expect(duration(0.000373)).toBe("373 µs");
    expect(duration(-1)).toBe("–");
  });
});
