// A line plot (uPlot): x values and one or more named series, redrawn in place when the data
// change (a live curve appends points without remaking the chart).
import { useEffect, useRef } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export interface Series {
  label: string;
  values: (number | null)[];
  color?: string;
  dash?: boolean;
  /** points only, no line (a scatter of values) */
  pointsOnly?: boolean;
  /** a step line (a running best): flat until the next value */
  stepped?: boolean;
  /** points on this line (default: the plot's) */
  points?: boolean;
  width?: number;
}

// x is a count (epochs, steps): ticks at whole numbers only
const WHOLE_STEPS = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10000, 20000, 50000, 100000];

const PALETTE = ["#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#db2777"];

export interface PlotProps {
  title?: string;
  x: number[];
  series: Series[];
  width?: number;
  height?: number;
  xLabel?: string;
  yLabel?: string;
  log?: boolean;
  compact?: boolean; // a sparkline: no axes or legend
  legend?: boolean; // uPlot's legend (default: shown unless compact)
  points?: boolean; // points on the lines (default: when there are under 60 x values)
  ariaLabel?: string;
}

export function Plot(props: PlotProps) {
  const box = useRef<HTMLDivElement>(null);
  const chart = useRef<uPlot | null>(null);
  const shape = props.series.map((s) => [s.label, s.pointsOnly, s.stepped, s.points, s.dash, s.color, s.width].join(",")).join("|") +
    (props.compact ? "c" : "") + (props.log ? "l" : "") + (props.legend === false ? "n" : "") + String(props.points ?? "");
  const width = props.width ?? 480, height = props.height ?? 240;

  useEffect(() => {
    if (!box.current) return;
    const opts: uPlot.Options = {
      title: props.compact ? undefined : props.title,
      width,
      height,
      legend: { show: !props.compact && props.legend !== false },
      cursor: { show: !props.compact },
      scales: { x: { time: false }, y: props.log ? { distr: 3 } : {} },
      axes: props.compact
        ? [{ show: false }, { show: false }]
        : [{ label: props.xLabel, incrs: WHOLE_STEPS }, { label: props.yLabel, size: 60 }],
      series: [
        { label: props.xLabel ?? "x" },
        ...props.series.map((s, i) => ({
          label: s.label,
          stroke: s.color ?? PALETTE[i % PALETTE.length],
          width: s.width ?? (props.compact ? 1.5 : 2),
          dash: s.dash ? [6, 4] : undefined,
          points: s.pointsOnly
            ? { show: true, size: 7, fill: s.color ?? PALETTE[i % PALETTE.length] }
            : { show: !props.compact && (s.points ?? props.points ?? props.x.length < 60) },
          paths: s.pointsOnly ? () => null : s.stepped ? uPlot.paths.stepped?.({ align: 1 }) : undefined,
          spanGaps: !s.pointsOnly,
        })),
      ],
    };
    chart.current = new uPlot(opts, [props.x, ...props.series.map((s) => s.values)] as uPlot.AlignedData, box.current);
    return () => {
      chart.current?.destroy();
      chart.current = null;
    };
    // remade only when the series or the size change; data updates go through setData below
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [shape, width, height]);

  useEffect(() => {
    chart.current?.setData([props.x, ...props.series.map((s) => s.values)] as uPlot.AlignedData);
  }, [props.x, props.series]);

  return <div className="plot" ref={box} role="img" aria-label={props.ariaLabel ?? props.title ?? "plot"} data-points={props.x.length} />;
}
