/**
 * A uPlot chart (canvas; small and fast) sized to its container. uPlot sets its element styles
 * through the CSSOM and ships its stylesheet as a file (imported here, bundled by Vite), so it
 * runs under the console's CSP (style-src 'self', no inline <style>).
 * New data goes in with setData; new options rebuild the chart.
 */
import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export type ChartOptions = Omit<uPlot.Options, 'width' | 'height'>;

export function UPlotChart({
  options,
  data,
  height,
  label,
  testId,
  onHover,
}: {
  options: ChartOptions;
  data: uPlot.AlignedData;
  height: number;
  /** the data index under the cursor, null when it leaves */
  onHover?: (index: number | null) => void;
  /** what the chart shows, for screen readers (the canvas itself says nothing) */
  label: string;
  testId?: string;
}) {
  const box = useRef<HTMLDivElement>(null);
  const chart = useRef<uPlot | null>(null);
  const dataRef = useRef(data);
  dataRef.current = data;
  const hoverRef = useRef(onHover);
  hoverRef.current = onHover;

  useEffect(() => {
    const el = box.current;
    if (!el) return undefined;
    const setCursor = (u: uPlot) => hoverRef.current?.(u.cursor.idx ?? null);
    const hooks = { ...options.hooks, setCursor: [...(options.hooks?.setCursor ?? []), setCursor] };
    const u = new uPlot({ ...options, hooks, width: Math.max(el.clientWidth, 200), height }, dataRef.current, el);
    chart.current = u;
    let frame = 0;
    const observer = new ResizeObserver(() => {
      cancelAnimationFrame(frame);
      frame = requestAnimationFrame(() => {
        const width = Math.max(el.clientWidth, 200);
        if (Math.abs(width - u.width) >= 1) u.setSize({ width, height });
      });
    });
    observer.observe(el);
    return () => {
      cancelAnimationFrame(frame);
      observer.disconnect();
      u.destroy();
      chart.current = null;
    };
  }, [options, height]);

  useEffect(() => {
    chart.current?.setData(data);
  }, [data]);

  return <div className="chart" ref={box} role="img" aria-label={label} data-testid={testId} />;
}
