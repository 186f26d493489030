import { useEffect } from 'react';

/** Sets the window title to "<page> · Sitecall" while the page is shown. */
export function useTitle(page: string): void {
  useEffect(() => {
    document.title = page ? `${page} · Sitecall` : 'Sitecall';
  }, [page]);
}
