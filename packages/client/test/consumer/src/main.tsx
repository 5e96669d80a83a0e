// Built by Vite, not type-checked: its one extra import (react-dom/client) would need @types/react-dom,
// a dependency the fixture does without; App.tsx, which uses the SDK, is type-checked.
import { createRoot } from 'react-dom/client';
import { App } from './App';

createRoot(document.getElementById('root')!).render(<App />);
