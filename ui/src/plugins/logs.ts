/**
 * Log tabs: the `explorer:open-log` command opens (or reveals) the live log of one element in
 * the main area; open log tabs come back after a reload.
 */
import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { MainAreaWidget, WidgetTracker } from '@jupyterlab/apputils';

import { LogView, createLogWidget } from '../logview';
import { CommandIDs } from '../tokens';

export const logsPlugin: JupyterFrontEndPlugin<void> = {
  id: 'explorer-jupyterlab:logs',
  description: 'Live logs of analysis elements in main-area tabs.',
  autoStart: true,
  optional: [ILayoutRestorer],
  activate: (app: JupyterFrontEnd, restorer: ILayoutRestorer | null): void => {
    const { commands, shell } = app;
    const logs = new WidgetTracker<MainAreaWidget<LogView>>({
      namespace: 'explorer-log'
    });
    if (restorer) {
      void restorer.restore(logs, {
        command: CommandIDs.openLog,
        args: w => ({
          id: w.content.model.id,
          index: w.content.model.index,
          name: w.content.model.name
        }),
        name: w => `${w.content.model.id}:${w.content.model.index}`
      });
    }

    commands.addCommand(CommandIDs.openLog, {
      describedBy: {
        args: {
          type: 'object',
          properties: {
            id: { type: 'string', description: 'The analysis id' },
            index: { type: 'number', description: 'The element index' },
            name: { type: 'string', description: 'The analysis name' }
          },
          required: ['id']
        }
      },
      label: args => `Open Log of Element ${args.index ?? ''}`,
      execute: args => {
        const id = String(args.id);
        const index = Number(args.index ?? 0);
        const existing = logs.find(
          w => w.content.model.id === id && w.content.model.index === index
        );
        if (existing) {
          shell.activateById(existing.id);
          return existing;
        }
        const widget = createLogWidget({
          id,
          index,
          name: args.name ? String(args.name) : ''
        });
        void logs.add(widget);
        shell.add(widget, 'main');
        shell.activateById(widget.id);
        return widget;
      }
    });
  }
};
