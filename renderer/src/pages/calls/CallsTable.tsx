/**
 * The live calls table: a real <table> (with aria-rowcount / aria-rowindex) of which only the rows
 * in view are in the DOM (@tanstack/react-virtual, fixed row height). Rows are memoised on the call
 * object, which the store keeps for calls a live batch did not touch; durations tick in their own
 * small components. Arrow keys, Page Up/Down, Home and End move between rows; Enter opens one.
 */
import { useVirtualizer } from '@tanstack/react-virtual';
import { memo, useLayoutEffect, useRef, useState, type KeyboardEvent } from 'react';
import type { ActiveCall } from '../../../../shared/api/cdr.js';
import { DirectionText, Elapsed, PartyText } from '../../components/callParts.js';
import { Icon } from '../../components/icons.js';
import { Badge } from '../../components/ui.js';
import { CALL_STATE_INFO } from '../../lib/calls.js';
import { formatInZone } from '../../lib/timeZone.js';

export const ROW_HEIGHT = 40;
const HEADER_HEIGHT = 38;

export type CallSortKey = 'started' | 'from' | 'to' | 'domain' | 'state';
export interface CallSort {
  key: CallSortKey;
  desc: boolean;
}

const COLUMNS: { key: CallSortKey | null; label: string; className: string }[] = [
  { key: 'from', label: 'Caller', className: 'col-party' },
  { key: 'to', label: 'Callee', className: 'col-party' },
  { key: 'domain', label: 'Domain', className: 'col-domain' },
  { key: null, label: 'Direction', className: 'col-direction' },
  { key: 'state', label: 'State', className: 'col-callstate' },
  { key: null, label: 'Duration', className: 'col-duration' },
  { key: 'started', label: 'Started', className: 'col-started' },
];

const ms = (iso: string | null): number | null => (iso ? Date.parse(iso) : null);

const CallRow = memo(function CallRow({
  call,
  index,
  focusable,
  selected,
  timeZone,
  onOpen,
  onFocusRow,
}: {
  call: ActiveCall;
  index: number;
  focusable: boolean;
  selected: boolean;
  timeZone: string;
  onOpen: (id: string) => void;
  onFocusRow: (id: string) => void;
}) {
  const state = CALL_STATE_INFO[call.state];
  const answered = ms(call.answeredAt);
  const started = ms(call.startedAt) ?? ms(call.lastEventAt);
  return (
    <tr
      className={`calls-row${selected ? ' calls-row--selected' : ''}`}
      data-index={index}
      data-call-id={call.id}
      data-testid="call-row"
      aria-rowindex={index + 2}
      tabIndex={focusable ? 0 : -1}
      onClick={() => onOpen(call.id)}
      onFocus={() => onFocusRow(call.id)}
    >
      <td className="cell-party">
        <PartyText value={call.from} />
      </td>
      <td className="cell-party">
        <PartyText value={call.to} />
      </td>
      <td className="cell-ellipsis" title={call.domain ?? undefined}>
        {call.domain ?? <span className="muted">—</span>}
      </td>
      <td>
        <DirectionText value={call.direction} />
      </td>
      <td>
        <Badge tone={state.tone} dot>
          {state.label}
        </Badge>
        {call.orphan ? <span className="muted calls-row__orphan"> no INVITE yet</span> : null}
      </td>
      <td className="cell-num">
        {answered !== null ? <Elapsed since={answered} /> : <Elapsed since={started} className="elapsed--setup" />}
      </td>
      <td className="cell-num muted">{started !== null ? formatInZone(started, timeZone, 'time') : '—'}</td>
    </tr>
  );
});

export function CallsTable({
  calls,
  sort,
  onSort,
  selectedId,
  onOpen,
  timeZone,
  resetKey,
}: {
  calls: readonly ActiveCall[];
  /** changes when the filter or the sort changes: the list starts at its top again */
  resetKey: string;
  sort: CallSort;
  onSort: (key: CallSortKey) => void;
  selectedId: string | null;
  onOpen: (id: string) => void;
  timeZone: string;
}) {
  const scrollRef = useRef<HTMLDivElement>(null);
  const [activeId, setActiveId] = useState<string | null>(null);
  const focusPending = useRef(false);

  const virtualizer = useVirtualizer({
    count: calls.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 8,
    paddingStart: HEADER_HEIGHT,
    scrollPaddingStart: HEADER_HEIGHT,
    getItemKey: (i) => calls[i]?.id ?? i,
    useFlushSync: false,
  });

  const lastReset = useRef(resetKey);
  useLayoutEffect(() => {
    if (lastReset.current === resetKey) return;
    lastReset.current = resetKey;
    scrollRef.current?.scrollTo({ top: 0 });
    setActiveId(null);
  }, [resetKey]);

  const found = activeId === null ? -1 : calls.findIndex((c) => c.id === activeId);
  const activeIndex = found >= 0 ? found : 0;

  const move = (to: number) => {
    if (calls.length === 0) return;
    const index = Math.min(Math.max(to, 0), calls.length - 1);
    const id = calls[index]?.id;
    if (id === undefined) return;
    setActiveId(id);
    focusPending.current = true;
    virtualizer.scrollToIndex(index, { align: 'auto' });
  };

  // After a keyboard move, focus the row once it is rendered.
  useLayoutEffect(() => {
    if (!focusPending.current) return;
    const row = scrollRef.current?.querySelector<HTMLTableRowElement>(`tr[data-index="${activeIndex}"]`);
    if (row) {
      focusPending.current = false;
      row.focus({ preventScroll: true });
    }
  });

  const pageRows = Math.max(1, Math.floor(((scrollRef.current?.clientHeight ?? 400) - HEADER_HEIGHT) / ROW_HEIGHT) - 1);
  const onKeyDown = (e: KeyboardEvent<HTMLTableSectionElement>) => {
    const keys: Record<string, number> = {
      ArrowDown: activeIndex + 1,
      ArrowUp: activeIndex - 1,
      PageDown: activeIndex + pageRows,
      PageUp: activeIndex - pageRows,
      Home: 0,
      End: calls.length - 1,
    };
    const to = keys[e.key];
    if (to !== undefined) {
      e.preventDefault();
      move(to);
    } else if (e.key === 'Enter' || e.key === ' ') {
      const id = calls[activeIndex]?.id;
      if (id !== undefined) {
        e.preventDefault();
        onOpen(id);
      }
    }
  };

  const items = virtualizer.getVirtualItems();
  // One row is in the Tab order: the active one, or the first in view when it is scrolled away.
  const tabIndexRow = items.some((i) => i.index === activeIndex) ? activeIndex : (items[0]?.index ?? 0);
  const padTop = (items[0]?.start ?? HEADER_HEIGHT) - HEADER_HEIGHT;
  const padBottom = virtualizer.getTotalSize() - (items.at(-1)?.end ?? HEADER_HEIGHT);

  return (
    <div className="vtable" ref={scrollRef} data-testid="calls-scroll">
      <table className="table calls-table" aria-rowcount={calls.length + 1} aria-label="Active calls" data-testid="calls-table">
        <colgroup>
          {COLUMNS.map((c, i) => (
            <col key={i} className={c.className} />
          ))}
        </colgroup>
        <thead>
          <tr aria-rowindex={1}>
            {COLUMNS.map((c) => {
              const sorted = c.key !== null && sort.key === c.key;
              return (
                <th
                  key={c.label}
                  scope="col"
                  className={c.label === 'Duration' || c.label === 'Started' ? 'cell-num' : undefined}
                  aria-sort={sorted ? (sort.desc ? 'descending' : 'ascending') : undefined}
                >
                  {c.key !== null ? (
                    <button type="button" className="sort-button" onClick={() => c.key && onSort(c.key)}>
                      {c.label}
                      <Icon name={sorted ? (sort.desc ? 'sort-down' : 'sort-up') : 'sort'} className={sorted ? 'sort-icon sort-icon--active' : 'sort-icon'} />
                    </button>
                  ) : (
                    c.label
                  )}
                </th>
              );
            })}
          </tr>
        </thead>
        <tbody onKeyDown={onKeyDown}>
          {padTop > 0 ? (
            <tr className="vtable__pad" aria-hidden="true" style={{ height: padTop }}>
              <td colSpan={COLUMNS.length} />
            </tr>
          ) : null}
          {items.map((vi) => {
            const call = calls[vi.index];
            if (!call) return null;
            return (
              <CallRow
                key={call.id}
                call={call}
                index={vi.index}
                focusable={vi.index === tabIndexRow}
                selected={call.id === selectedId}
                timeZone={timeZone}
                onOpen={onOpen}
                onFocusRow={setActiveId}
              />
            );
          })}
          {padBottom > 0 ? (
            <tr className="vtable__pad" aria-hidden="true" style={{ height: padBottom }}>
              <td colSpan={COLUMNS.length} />
            </tr>
          ) : null}
        </tbody>
      </table>
    </div>
  );
}
